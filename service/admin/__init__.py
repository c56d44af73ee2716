"""The student-service admin: the teacher's workbench (the task list), the student page, the
learning watch, the script library and the campus settings."""

from . import registry  # noqa: F401
from .watch import LearningWatchAdmin  # noqa: F401
