"""Reads of student service: a campus's settings, the student's figures a task is made with, her
first-lesson question, and referrals (her code, her referrals, the counts per student and teacher)."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Count, QuerySet, Sum
from django.utils import timezone

from orders.models import OrderStatus
from students.models import Student

from .models import LessonFeedback, Referral, ReferralCode, ServiceSettings

# An enrollment is served while its order stands (a refunded, cancelled or exchanged order has left).
ACTIVE_ORDER_STATUSES = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED)

# The enrollment values ``student_facts`` reads (with ``order__course__lessons``).
FACT_FIELDS = (
    "lessons_consumed",
    "watch_progress",
    "homework_submitted",
    "tests_taken",
    "test_score_avg",
    "rating",
    "last_learning_at",
    "order__course__lessons",
)


def service_settings_for(*, campus_id: int) -> ServiceSettings:
    """The campus's settings, or the defaults (unsaved) when it has none."""
    found = ServiceSettings.objects.filter(campus_id=campus_id).first()
    return found or ServiceSettings(campus_id=campus_id)


def service_settings_by_campus(campus_ids: Iterable[int]) -> dict[int, ServiceSettings]:
    campus_ids = list(campus_ids)
    found = {s.campus_id: s for s in ServiceSettings.objects.filter(campus_id__in=campus_ids)}
    return {pk: found.get(pk) or ServiceSettings(campus_id=pk) for pk in campus_ids}


def _percent(part: int, whole: int) -> str:
    if not whole:
        return "0"
    return str((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def student_facts(values: dict[str, Any], *, now: datetime.datetime) -> dict[str, Any]:
    """The student's figures as the teacher reads them in a task (JSON-ready): completion, homework,
    tests, satisfaction, last learning and how many days ago. ``values`` holds ``FACT_FIELDS``."""
    lessons = values.get("order__course__lessons") or 0
    last = values.get("last_learning_at")
    score = values.get("test_score_avg")
    return {
        "completion": _percent(values.get("lessons_consumed") or 0, lessons),
        "lessons_consumed": values.get("lessons_consumed") or 0,
        "lessons": lessons,
        "watch_progress": str(values.get("watch_progress") or "0"),
        # As the learning watch counts it: homework per lesson she has had ("" before the first).
        "homework_rate": (
            _percent(values.get("homework_submitted") or 0, values["lessons_consumed"])
            if values.get("lessons_consumed")
            else ""
        ),
        "tests_taken": values.get("tests_taken") or 0,
        "test_score_avg": "" if score is None else str(score),
        "rating": values.get("rating") or "",
        "last_learning_at": timezone.localtime(last).strftime("%Y-%m-%d %H:%M") if last else "",
        "days_inactive": (now - last).days if last else None,
    }


# --- The first-lesson question ------------------------------------------------------------------


def lesson_feedback_for(*, enrollment_id: int) -> LessonFeedback | None:
    """The first-lesson question of an enrollment (asked, maybe answered), or None if never asked."""
    return LessonFeedback.objects.filter(enrollment_id=enrollment_id).first()


def feedback_questions_open(*, student: Student) -> QuerySet[LessonFeedback]:
    """Her first-lesson questions asked and not answered yet, of the orders that still stand."""
    return (
        LessonFeedback.objects.filter(
            enrollment__order__student=student,
            enrollment__order__status__in=ACTIVE_ORDER_STATUSES,
            answer="",
        )
        .select_related("enrollment__order__course")
        .order_by("-asked_at", "-pk")
    )


# --- Referrals ----------------------------------------------------------------------------------

REFERRAL_CODE_LENGTH = 16  # ReferralCode.code's max_length


def masked_name(name: str) -> str:
    """A name as strangers may read it: the first character, the rest hidden ("王**")."""
    name = (name or "").strip()
    if not name:
        return "*"
    return name[0] + "*" * max(len(name) - 1, 1)


def referral_code_find(*, code: str) -> ReferralCode | None:
    """The referral code ``code`` (read out loud, so case does not matter) with its student."""
    code = (code or "").strip().upper()
    if not code or len(code) > REFERRAL_CODE_LENGTH:
        return None
    return ReferralCode.objects.filter(code=code).select_related("student__user", "student__campus").first()


def referrals_of(*, student: Student) -> QuerySet[Referral]:
    """The referrals she made, newest first, with the new students' names (to be masked)."""
    return Referral.objects.filter(referrer=student).select_related("referee__user").order_by("-recorded_at", "-pk")


@dataclass(frozen=True)
class ReferralCount:
    pk: int
    label: str
    referrals: int
    rewards: Decimal  # to the referrer (by student) or to both sides (by teacher), recorded


@dataclass(frozen=True)
class ReferralCounts:
    by_student: list[ReferralCount]  # the referrers, most referrals first
    by_teacher: list[ReferralCount]  # the referrers' homeroom teachers, most first


def referral_counts(*, referrals: QuerySet[Referral], limit: int = 20) -> ReferralCounts:
    """How many referrals each referrer and each teacher has among ``referrals`` (the referral
    list's rows as filtered and scoped), most first; two grouped queries."""
    base = referrals.order_by()
    students = (
        base.values("referrer_id", "referrer__user__name", "referrer__student_no")
        .annotate(n=Count("pk"), rewards=Sum("referrer_reward"))
        .order_by("-n", "referrer__student_no")[:limit]
    )
    teachers = (
        base.filter(teacher__isnull=False)
        .values("teacher_id", "teacher__user__name", "teacher__user__username")
        .annotate(n=Count("pk"), mine=Sum("referrer_reward"), theirs=Sum("referee_reward"))
        .order_by("-n", "teacher__user__name")[:limit]
    )
    return ReferralCounts(
        by_student=[
            ReferralCount(
                row["referrer_id"],
                f"{row['referrer__user__name'] or '-'} ({row['referrer__student_no']})",
                row["n"],
                row["rewards"] or Decimal("0.00"),
            )
            for row in students
        ],
        by_teacher=[
            ReferralCount(
                row["teacher_id"],
                row["teacher__user__name"] or row["teacher__user__username"],
                row["n"],
                (row["mine"] or Decimal("0.00")) + (row["theirs"] or Decimal("0.00")),
            )
            for row in teachers
        ],
    )
