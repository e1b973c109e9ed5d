"""Put `course grade`'s verdicts into nbgrader's gradebook, through nbgrader's own autograde.

Where `course grade` runs in an nbgrader course folder (its `nbgrader_config.py` beside the
`submitted/` being graded, and the lesson's source notebook in place), it also runs nbgrader's
autograde for each student in this process. The `TrustedChecks` step of that pipeline is handed the
verdicts already computed in parallel instead of grading again, so nbgrader does the rest as
`nbgrader autograde` would: autograded/ copies, check-cell outputs, scores in gradebook.db, late
penalties. The verdicts reach it as configuration (`TrustedChecks.verdicts`, a JSON file), the way
every nbgrader preprocessor is configured. formgrader, generate_feedback and export then work as usual. (The verdicts were computed
from the notebook as submitted, where nbgrader's own autograde would first restore locked cells; the
check cells themselves never matter, as the checks come from the instructor's tree.)

nbgrader's gradebook is one SQLite file, so this part runs one student at a time. `StagedGradebook`
does it while the rest of the class is still being graded, into a copy that replaces nothing until
the whole batch is trusted.
"""
from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
import threading
import warnings
from contextlib import closing
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


def _config(root: Path):
    from traitlets.config.loader import PyFileConfigLoader
    config = PyFileConfigLoader(CONFIG, path=str(root)).load_config()
    config.CourseDirectory.root = str(Path(root).resolve())
    return config


def _quiet_nbgrader():
    # nbgrader's own SQLAlchemy use warns on every submission ("not in session"); it is harmless
    # and `nbgrader autograde` prints the same.
    warnings.filterwarnings("ignore", module="nbgrader")
    warnings.filterwarnings("ignore", message=".*not in session.*")


def _autograde(api, lesson: str, student: str) -> str | None:
    """nbgrader's autograde of one student (its TrustedChecks reads the verdicts): None or the problem."""
    outcome = api.autograde(lesson, student, force=True, create=True)
    if outcome["success"]:
        return None
    why = (outcome.get("error") or outcome.get("log") or "").strip()
    return why[-2000:] or "nbgrader autograde failed"


def record(root: Path, lesson: str, results: dict[str, LessonResult]) -> dict[str, str]:
    """Autograde every student of `results` into root/gradebook.db; returns {student: problem}."""
    from nbgrader.apps import NbGraderAPI

    config = _config(root)
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
        _quiet_nbgrader()
        for student in sorted(results):
            problem = _autograde(api, lesson, student)
            if problem:
                problems[student] = problem
    return problems


class StagedGradebook:
    """Records each student as their verdicts arrive, while the class is still being graded (the
    ~0.2 s per student that nbgrader's autograde takes then overlaps the grading instead of following
    it), into a staged copy: root/.course-grade-*/ holds a copy of gradebook.db and the autograded/
    folders. commit() puts them in place once the whole batch is trusted; discard() forgets them, so a
    GraderFault leaves the course as it was. Where staging cannot be exact (no gradebook.db yet, the
    assignment not in it, a gradebook that is not a SQLite file, or the real one changed meanwhile,
    say by formgrader), commit() falls back to record(): everyone again, into the real gradebook."""

    def __init__(self, root: Path, lesson: str):
        self.root, self.lesson = Path(root).resolve(), lesson
        self.stage = Path(tempfile.mkdtemp(prefix=".course-grade-", dir=self.root))
        self.problems: dict[str, str | None] = {}
        self._real = self._staged = self._db = self._db_seen = None
        self._failed: BaseException | None = None
        self._prepared = threading.Thread(target=self._prepare, daemon=True)   # nbgrader's import: ~1 s
        self._prepared.start()

    def _prepare(self):
        try:
            from nbgrader.apps import NbGraderAPI
            self._real = NbGraderAPI(config=_config(self.root))
            url = self._real.coursedir.db_url
            db = Path(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else None
            if db is None or not db.is_file() or not _has_assignment(self._real, self.lesson):
                return                              # commit() records the plain way
            self._db, self._db_seen = db, _fingerprint(db)
            _copy_database(db, self.stage / "gradebook.db")
            config = _config(self.root)
            config.CourseDirectory.db_url = f"sqlite:///{self.stage / 'gradebook.db'}"
            config.CourseDirectory.autograded_directory = self._staged_step()
            config.TrustedChecks.verdicts = str(self.stage / "verdicts.json")
            self._staged = NbGraderAPI(config=config)
        except BaseException as e:
            self._failed = e

    def _staged_step(self) -> str:
        return f"{self.stage.name}/{self._real.coursedir.autograded_directory}"

    def _api(self):
        self._prepared.join()
        if self._failed is not None:
            raise self._failed
        return self._staged

    def add(self, student: str, result: LessonResult) -> None:
        api = self._api()
        if api is None:
            return
        (self.stage / "verdicts.json").write_text(json.dumps({"lesson": self.lesson, "students": {student: result.as_json()}}))
        with warnings.catch_warnings():
            _quiet_nbgrader()
            self.problems[student] = _autograde(api, self.lesson, student)

    def commit(self, results: dict[str, LessonResult]) -> dict[str, str]:
        """Put the staged records in place (or record the plain way); returns {student: problem}."""
        if self._api() is None or set(self.problems) != set(results) or _fingerprint(self._db) != self._db_seen:
            return record(self.root, self.lesson, results)
        coursedir = self._real.coursedir
        for student in self.problems:
            staged = Path(coursedir.format_path(self._staged_step(), student, self.lesson))
            real = Path(coursedir.format_path(coursedir.autograded_directory, student, self.lesson))
            shutil.rmtree(real, ignore_errors=True)
            if staged.exists():
                real.parent.mkdir(parents=True, exist_ok=True)
                staged.rename(real)
        # Copied page by page into the same file, under SQLite's own lock: a formgrader that has it
        # open reads the new contents rather than a replaced file.
        _copy_database(self.stage / "gradebook.db", self._db)
        return {s: p for s, p in self.problems.items() if p}

    def discard(self) -> None:
        self._prepared.join()
        shutil.rmtree(self.stage, ignore_errors=True)


def _copy_database(source: Path, dest: Path) -> None:
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(dest)) as dst:
        src.backup(dst)


def _fingerprint(path: Path):
    stat = path.stat()
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def _has_assignment(api, lesson: str) -> bool:
    from nbgrader.api import Gradebook, MissingEntry
    with Gradebook(api.coursedir.db_url) as gb:
        try:
            return len(gb.find_assignment(lesson).notebooks) > 0
        except MissingEntry:
            return False
