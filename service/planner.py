"""The clock's side of student service (seed 003): the beat walks every campus and makes the
homeroom teachers' tasks that are due, asks how the first lesson went, reminds students of their
first lesson, closes the tasks of students who left, and tells supervisors about overdue tasks.

Each rule is one set-based query per campus (or per group of courses sharing a trigger), never a
query per enrollment; the tasks are written with ``bulk_create(ignore_conflicts=True)`` against the
unique (enrollment, kind, trigger), so a run repeated, overlapping or retried never makes a task
twice. Messages go through the outbox with a key per occurrence, so they are never sent twice.
"""

from __future__ import annotations

import datetime
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from orders.models import ACTIVE_ORDER_STATUSES, Course, OrderStatus
from schoolops.models import Campus
from students.models import Enrollment

from . import notices
from .models import LessonFeedback, ServiceSettings, ServiceTask, TaskKind, TaskStatus
from .selectors import FACT_FIELDS, service_settings_by_campus, student_facts

logger = logging.getLogger(__name__)

BATCH = 2000
# Orders paid longer ago than this get no first-contact task from the clock (only new ones do).
FIRST_CONTACT_LOOKBACK = datetime.timedelta(days=7)
# The first-lesson question is asked only this long after the lesson; later it would be odd.
FEEDBACK_WINDOW = datetime.timedelta(days=3)
INACTIVE_DUE = datetime.timedelta(hours=24)
MONTH = datetime.timedelta(days=30)
SHORT_COURSE = datetime.timedelta(days=31)
LONG_COURSE = datetime.timedelta(days=90)
LEFT_REASON = _("The student left (refunded, cancelled or exchanged).")


@dataclass
class PlanResult:
    created: Counter = field(default_factory=Counter)
    feedback_asked: int = 0
    closed: int = 0
    escalated: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            **{f"created_{k}": v for k, v in sorted(self.created.items())},
            "feedback_asked": self.feedback_asked,
            "closed": self.closed,
            "escalated": self.escalated,
        }


def _served(campus_id: int) -> QuerySet[Enrollment]:
    return Enrollment.objects.filter(order__course__campus_id=campus_id, order__status__in=ACTIVE_ORDER_STATUSES)


def _without(queryset: QuerySet[Enrollment], kind: str, trigger: str | None = None) -> QuerySet[Enrollment]:
    tasks = ServiceTask.objects.filter(enrollment=OuterRef("pk"), kind=kind)
    if trigger is not None:
        tasks = tasks.filter(trigger=trigger)
    return queryset.filter(~Exists(tasks))


def _write(tasks: list[ServiceTask]) -> int:
    for start in range(0, len(tasks), BATCH):
        with transaction.atomic():
            ServiceTask.objects.bulk_create(tasks[start : start + BATCH], ignore_conflicts=True)
    return len(tasks)


def _task(row: dict, *, campus_id: int, kind: str, trigger: str, due_at, now, facts=None) -> ServiceTask:
    return ServiceTask(
        enrollment_id=row["pk"],
        student_id=row["order__student_id"],
        campus_id=campus_id,
        teacher_id=row["homeroom_teacher_id"],
        kind=kind,
        trigger=trigger,
        due_at=due_at,
        created_at=now,
        facts=facts or {},
    )


_ROW = ("pk", "order__student_id", "homeroom_teacher_id")


def _first_contacts(campus_id: int, settings: ServiceSettings, now) -> int:
    rows = _without(_served(campus_id).filter(order__paid_at__gte=now - FIRST_CONTACT_LOOKBACK), TaskKind.FIRST_CONTACT)
    hours = datetime.timedelta(hours=settings.first_contact_hours)
    tasks = [
        _task(
            r, campus_id=campus_id, kind=TaskKind.FIRST_CONTACT, trigger="", due_at=r["order__paid_at"] + hours, now=now
        )
        for r in rows.values(*_ROW, "order__paid_at").iterator(chunk_size=BATCH)
    ]
    return _write(tasks)


def _lesson_reminders(campus_id: int, settings: ServiceSettings, now) -> int:
    """Within ``reminder_minutes`` before the course's first lesson: the student is reminded on her
    channels and the teacher gets a task to check she attended."""
    lead = datetime.timedelta(minutes=settings.reminder_minutes)
    rows = list(
        _without(
            _served(campus_id).filter(order__course__starts_at__gt=now, order__course__starts_at__lte=now + lead),
            TaskKind.LESSON_REMINDER,
        ).values(*_ROW, "order__course__starts_at")
    )
    tasks = [
        _task(
            r,
            campus_id=campus_id,
            kind=TaskKind.LESSON_REMINDER,
            trigger="",
            due_at=r["order__course__starts_at"] + datetime.timedelta(minutes=30),
            now=now,
        )
        for r in rows
    ]
    _write(tasks)
    for start in range(0, len(rows), BATCH):
        with transaction.atomic():
            notices.first_lesson_reminders([r["pk"] for r in rows[start : start + BATCH]])
    return len(tasks)


def _feedback_questions(campus_id: int, settings: ServiceSettings, now) -> int:
    """After the first lesson: "感觉怎么样" (the answer comes from her page; a bad one makes a task)."""
    after = datetime.timedelta(minutes=settings.feedback_after_minutes)
    ids = list(
        _served(campus_id)
        .filter(
            order__course__starts_at__lte=now - after,
            order__course__starts_at__gt=now - after - FEEDBACK_WINDOW,
            order__paid_at__lte=F("order__course__starts_at"),
        )
        .filter(~Exists(LessonFeedback.objects.filter(enrollment=OuterRef("pk"))))
        .values_list("pk", flat=True)
    )
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        with transaction.atomic():
            LessonFeedback.objects.bulk_create(
                [LessonFeedback(enrollment_id=pk, asked_at=now) for pk in chunk], ignore_conflicts=True
            )
            notices.feedback_questions(chunk)
    return len(ids)


def _inactive(campus_id: int, settings: ServiceSettings, now) -> int:
    """No learning for ``inactive_days`` while the course runs: an at-risk follow-up with her figures.
    One task per episode: the trigger is the day she last learned (or the course began)."""
    days = datetime.timedelta(days=settings.inactive_days)
    last = Coalesce("last_learning_at", Greatest("order__course__starts_at", "order__paid_at"))
    candidates = (
        _served(campus_id)
        .filter(order__course__starts_at__lte=now, order__course__ends_at__gt=now)
        .annotate(since=last)
        .filter(since__lte=now - days)
        .filter(
            ~Exists(
                ServiceTask.objects.filter(
                    enrollment=OuterRef("pk"), kind=TaskKind.INACTIVE, created_at__gt=OuterRef("since")
                )
            )
        )
    )
    tasks = []
    for row in candidates.values(*_ROW, "since", *FACT_FIELDS).iterator(chunk_size=BATCH):
        since = row["since"]
        facts = student_facts(row, now=now)
        facts["days_inactive"] = (now - since).days
        trigger = timezone.localtime(since).strftime("%Y%m%d")
        tasks.append(
            _task(
                row,
                campus_id=campus_id,
                kind=TaskKind.INACTIVE,
                trigger=trigger,
                due_at=now + INACTIVE_DUE,
                now=now,
                facts=facts,
            )
        )
    return _write(tasks)


def follow_up_trigger(course: Course, settings: ServiceSettings, now) -> tuple[str, datetime.datetime] | None:
    """Which follow-up of a running course is due now, and when it was due: once mid-course for a
    course up to a month, monthly for three months or more, the campus's cadence in between."""
    length = course.ends_at - course.starts_at
    elapsed = now - course.starts_at
    if length <= SHORT_COURSE:
        middle = course.starts_at + length / 2
        return ("mid", middle) if now >= middle else None
    period, prefix = (MONTH, "m") if length >= LONG_COURSE else (datetime.timedelta(days=settings.follow_up_days), "c")
    step = int(elapsed / period)
    if step < 1:
        return None
    return f"{prefix}{step}", course.starts_at + period * step


def _follow_ups(campus_id: int, settings: ServiceSettings, now) -> int:
    """The follow-up step due now in each running course; one query per step name (``m2``, ``c3``,
    ``mid``), not per course. Due ``task_days`` from now: a task is never made late."""
    groups: dict[str, list[int]] = defaultdict(list)
    for course in Course.objects.filter(campus_id=campus_id, starts_at__lte=now, ends_at__gt=now).only(
        "pk", "starts_at", "ends_at"
    ):
        due = follow_up_trigger(course, settings, now)
        if due is not None:
            groups[due[0]].append(course.pk)
    due_at = now + datetime.timedelta(days=settings.task_days)
    created = 0
    for trigger, course_ids in groups.items():
        rows = _without(_served(campus_id).filter(order__course_id__in=course_ids), TaskKind.FOLLOW_UP, trigger)
        tasks = [
            _task(
                r,
                campus_id=campus_id,
                kind=TaskKind.FOLLOW_UP,
                trigger=trigger,
                due_at=due_at,
                now=now,
                facts=student_facts(r, now=now),
            )
            for r in rows.values(*_ROW, *FACT_FIELDS).iterator(chunk_size=BATCH)
        ]
        created += _write(tasks)
    return created


def _renewals(campus_id: int, settings: ServiceSettings, now) -> int:
    """From ``renewal_lead_days`` before the course ends: the renewal talk, prepared with her figures."""
    lead = datetime.timedelta(days=settings.renewal_lead_days)
    task_time = datetime.timedelta(days=settings.task_days)
    rows = _without(
        _served(campus_id).filter(order__course__ends_at__gt=now, order__course__ends_at__lte=now + lead),
        TaskKind.RENEWAL,
    )
    tasks = []
    for r in rows.values(*_ROW, "order__course__ends_at", *FACT_FIELDS).iterator(chunk_size=BATCH):
        ends = r["order__course__ends_at"]
        due = min(max(now, ends - lead) + task_time, ends)
        tasks.append(
            _task(
                r,
                campus_id=campus_id,
                kind=TaskKind.RENEWAL,
                trigger="",
                due_at=due,
                now=now,
                facts=student_facts(r, now=now),
            )
        )
    return _write(tasks)


def tasks_close_for_left(*, now, enrollment_ids: Iterable[int] | None = None) -> int:
    """Close the open tasks of students who left (the order no longer stands)."""
    # Named positively (the statuses that left), so the database starts from those few orders.
    gone = [status for status in OrderStatus.values if status not in ACTIVE_ORDER_STATUSES]
    left = ServiceTask.objects.filter(status=TaskStatus.OPEN, enrollment__order__status__in=gone)
    if enrollment_ids is not None:
        left = left.filter(enrollment_id__in=list(enrollment_ids))
    return left.update(status=TaskStatus.CLOSED, closed_reason=str(LEFT_REASON), done_at=now)


def _escalate(campus_id: int, settings: ServiceSettings, now) -> int:
    """Overdue by ``escalate_after_hours``: the teacher's supervisor is told, once per task."""
    late = datetime.timedelta(hours=settings.escalate_after_hours)
    with transaction.atomic():
        tasks = list(
            ServiceTask.objects.select_for_update(skip_locked=True)
            .filter(campus_id=campus_id, status=TaskStatus.OPEN, escalated_at__isnull=True, due_at__lte=now - late)
            .order_by("pk")
            .values_list("pk", "teacher_id", "kind")
        )
        if not tasks:
            return 0
        ServiceTask.objects.filter(pk__in=[pk for pk, _t, _k in tasks]).update(escalated_at=now)
        notices.tasks_overdue(tasks, campus_id=campus_id)
    return len(tasks)


def service_plan(*, now: datetime.datetime | None = None) -> PlanResult:
    """One run of the clock over every campus (the beat's task, ``manage.py plan_service_tasks``)."""
    now = now or timezone.now()
    result = PlanResult()
    result.closed = tasks_close_for_left(now=now)
    campus_ids = list(Campus.objects.order_by("pk").values_list("pk", flat=True))
    for campus_id, settings in service_settings_by_campus(campus_ids).items():
        result.created[TaskKind.FIRST_CONTACT] += _first_contacts(campus_id, settings, now)
        result.created[TaskKind.LESSON_REMINDER] += _lesson_reminders(campus_id, settings, now)
        result.feedback_asked += _feedback_questions(campus_id, settings, now)
        at_risk = _inactive(campus_id, settings, now)
        result.created[TaskKind.INACTIVE] += at_risk
        if at_risk:
            with transaction.atomic():
                notices.at_risk_alerts(campus_id=campus_id, now=now)
        result.created[TaskKind.FOLLOW_UP] += _follow_ups(campus_id, settings, now)
        result.created[TaskKind.RENEWAL] += _renewals(campus_id, settings, now)
        result.escalated += _escalate(campus_id, settings, now)
    logger.info("Service plan: %s", result.as_dict())
    return result
