"""The seed of hidden checks, shared by `course grade` and the nbgrader plug-in."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

SECRET_FILE = ".grading_secret"


def grading_secret(course_root: Path) -> bytes:
    """COURSE_GRADING_SECRET, else a file made once in the course folder.

    The same secret gives the same hidden inputs, so grading twice gives identical results, while
    students (who never see the file) cannot know the inputs in advance.
    """
    if os.environ.get("COURSE_GRADING_SECRET"):
        return os.environ["COURSE_GRADING_SECRET"].encode()
    path = Path(course_root) / SECRET_FILE
    if not path.exists():
        path.write_text(secrets.token_hex(16))
        path.chmod(0o600)
    return path.read_text().strip().encode()
