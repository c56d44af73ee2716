"""The student-service admin: the teacher's workbench (the task list), the student page, the
learning watch, the script library, the referrals (``referrals``) and the campus settings."""

from . import library, referrals, students, tasks  # noqa: F401
from .watch import LearningWatchAdmin  # noqa: F401
