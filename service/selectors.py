"""Reads of student service: a campus's settings and the student's figures a task is made with."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.utils import timezone

from orders.models import OrderStatus

from .models import ServiceSettings

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
