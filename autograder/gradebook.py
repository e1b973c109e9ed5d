"""Put `course grade`'s verdicts into nbgrader's gradebook, through nbgrader's own autograde.

Where `course grade` runs in an nbgrader course folder (its `nbgrader_config.py` beside the
`submitted/` being graded, and the lesson's source notebook in place), it ends by running nbgrader's
autograde for each student in this process. The `TrustedChecks` step of that pipeline is handed the
verdicts already computed in parallel instead of grading again, so nbgrader does the rest as
`nbgrader autograde` would: autograded/ copies, check-cell outputs, scores in gradebook.db, late
penalties. The verdicts reach it as configuration (`TrustedChecks.verdicts`, a JSON file), the way
every nbgrader preprocessor is configured. formgrader, generate_feedback and export then work as usual. (The verdicts were computed
from the notebook as submitted, where nbgrader's own autograde would first restore locked cells; the
check cells themselves never matter, as the checks come from the instructor's tree.)

nbgrader's gradebook is one SQLite file, so this part runs one student at a time.
"""
from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path

from autograder.results import LessonResult

CONFIG = "nbgrader_config.py"


def source_notebook(root: Path, lesson: str) -> Path | None:
    """The lesson's nbgrader source notebook, as the course's config places it (None: not found)."""
    from traitlets.config.loader import PyFileConfigLoader
    config = PyFileConfigLoader(CONFIG, path=str(root)).load_config()
    source = config.get("CourseDirectory", {}).get("source_directory", "source")
    path = Path(root) / source / lesson / f"{lesson}.ipynb"
    return path if path.is_file() else None


def is_course(root: Path, submitted: Path, lesson: str) -> bool:
    root = Path(root)
    return ((root / CONFIG).is_file() and Path(submitted).resolve() == (root / "submitted").resolve()
            and source_notebook(root, lesson) is not None)


def record(root: Path, lesson: str, results: dict[str, LessonResult]) -> dict[str, str]:
    """Autograde every student of `results` into root/gradebook.db; returns {student: problem}."""
    from nbgrader.apps import NbGraderAPI
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader(CONFIG, path=str(root)).load_config()
    config.CourseDirectory.root = str(Path(root).resolve())
    problems = {}
    with tempfile.TemporaryDirectory(prefix="course-verdicts-") as tmp, warnings.catch_warnings():
        verdicts = Path(tmp) / "verdicts.json"
        verdicts.write_text(json.dumps({"lesson": lesson, "students": {s: r.as_json() for s, r in results.items()}}))
        config.TrustedChecks.verdicts = str(verdicts)
        api = NbGraderAPI(config=config)
        if not _has_assignment(api, lesson):
            # nbgrader grades against the assignment generate_assignment recorded (its cells and points):
            # do that step here rather than fail every student.
            made = api.generate_assignment(lesson, force=False)
            if not made["success"]:
                why = (made.get("error") or made.get("log") or "").strip()
                return {s: f"nbgrader generate_assignment {lesson} failed: {why[-2000:]}" for s in results}
        # nbgrader's own SQLAlchemy use warns on every submission ("not in session"); it is harmless
        # and `nbgrader autograde` prints the same.
        warnings.filterwarnings("ignore", module="nbgrader")
        warnings.filterwarnings("ignore", message=".*not in session.*")
        for student in sorted(results):
            outcome = api.autograde(lesson, student, force=True, create=True)
            if not outcome["success"]:
                why = (outcome.get("error") or outcome.get("log") or "").strip()
                problems[student] = why[-2000:] or "nbgrader autograde failed"
    return problems


def _has_assignment(api, lesson: str) -> bool:
    from nbgrader.api import Gradebook, MissingEntry
    with Gradebook(api.coursedir.db_url) as gb:
        try:
            return len(gb.find_assignment(lesson).notebooks) > 0
        except MissingEntry:
            return False
