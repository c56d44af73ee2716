"""The script library's placeholders: which a script may use, what they hold for a task's student,
the check operations' edits pass on save, and the rendering shown inside a task.

A script is written in the notification templates' sandbox (``notifications.rendering``): plain
text with ``{{ placeholder }}`` and the ``if`` tag, nothing else. Every placeholder is text
already formatted for speaking (dates in Beijing time, percentages without decimals);
``score_sentence`` is a whole clause ("测试平均 82 分，") or nothing, so a script reads well for a
student who has taken no test.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from notifications.rendering import render, source_problems

from .models import ScriptScenario, TaskKind

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

# The placeholders a script may read, with what each holds (listed on the script's page).
PLACEHOLDERS: dict[str, StrOrPromise] = {
    "student_name": _("the student's name"),
    "teacher_name": _("her homeroom teacher's name"),
    "course": _("the course's name"),
    "starts": _("when the course starts (date and time)"),
    "ends": _("when the course ends (date)"),
    "completion": _("lessons completed, as a percentage without the sign"),
    "homework_rate": _(
        "homework handed in per lesson she has had, as a percentage without the sign (0 before the first)"
    ),
    "days_inactive": _("days since she last learned"),
    "score_sentence": _("her average test score as a clause, or nothing if she has taken no test"),
    "referral_code": _("her referral code (made the first time a script shows it)"),
}

SAMPLE: dict[str, str] = {
    "student_name": "王小明",
    "teacher_name": "孙老师",
    "course": "2027 考研英语全程班",
    "starts": "2026-12-05 19:30",
    "ends": "2027-03-05",
    "completion": "45",
    "homework_rate": "40",
    "days_inactive": "8",
    "score_sentence": "测试平均 82 分，",
    "referral_code": "K7PQ2M9X",
}

# The script a task of each kind shows: the active scripts of its scenario.
KIND_SCENARIO: dict[str, str] = {
    TaskKind.FIRST_CONTACT: ScriptScenario.FIRST_CONTACT,
    TaskKind.LESSON_REMINDER: ScriptScenario.LESSON_REMINDER,
    TaskKind.FEEDBACK: ScriptScenario.FEEDBACK,
    TaskKind.INACTIVE: ScriptScenario.INACTIVE,
    TaskKind.FOLLOW_UP: ScriptScenario.FOLLOW_UP,
    TaskKind.RENEWAL: ScriptScenario.RENEWAL,
}


def script_problems(body: str) -> list[str]:
    """What is wrong with a script's text: syntax, tags other than ``if``, unknown placeholders
    (named, with the allowed ones)."""
    return source_problems(source=body, placeholders=tuple(PLACEHOLDERS))


def script_render(body: str, values: Mapping[str, str]) -> str:
    """The script as the teacher reads it; a placeholder without a value reads as nothing."""
    if script_problems(body):  # saved before the check existed, or edited outside the admin
        return body
    return render(body, {name: values.get(name, "") for name in PLACEHOLDERS})


def script_sample(body: str) -> str:
    """The script rendered with sample values (the library's preview)."""
    return script_render(body, SAMPLE)


def score_text(value: Any) -> str:
    """A score as said: 82.50 → "82.5", 80.00 → "80"."""
    text = f"{Decimal(str(value)):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def score_sentence(facts: Mapping[str, Any]) -> str:
    score = facts.get("test_score_avg")
    if not facts.get("tests_taken") or score in (None, ""):
        return ""
    return gettext("Average test score %(score)s,") % {"score": score_text(score)}


def _local(at: datetime.datetime | None, pattern: str) -> str:
    return timezone.localtime(at).strftime(pattern) if at else ""


def script_values(
    *,
    student_name: str,
    teacher_name: str,
    course: str,
    starts: datetime.datetime | None,
    ends: datetime.datetime | None,
    facts: Mapping[str, Any],
    referral_code: Callable[[], str],
    language: str,
    used: set[str],
) -> dict[str, str]:
    """The placeholders' values for one student's enrollment (``facts``: ``student_facts``), in
    the script's language. ``referral_code`` is asked only when the script uses it (it makes the
    code the first time)."""
    with translation.override(language):
        days = facts.get("days_inactive")
        values = {
            "student_name": student_name,
            "teacher_name": teacher_name,
            "course": course,
            "starts": _local(starts, "%Y-%m-%d %H:%M"),
            "ends": _local(ends, "%Y-%m-%d"),
            "completion": str(facts.get("completion", "0")),
            "homework_rate": str(facts.get("homework_rate") or "0"),
            "days_inactive": "" if days is None else str(days),
            "score_sentence": score_sentence(facts),
            "referral_code": referral_code() if "referral_code" in used else "",
        }
    return values
