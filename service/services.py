"""Writes of student service: tasks done or moved, contacts logged, the first-lesson answer, the
referral code and referrals, and the writer that turns enrollment news into tasks."""

from __future__ import annotations

import datetime
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from orders.models import Order
from refunds.events import refund_event_writer
from refunds.models import RefundEvent, RefundEventKind
from schoolops.models import Staff, User
from students.events import EnrollmentNews, EnrollmentNewsKind, enrollment_news_writer
from students.models import Enrollment, Student

from . import notices
from .models import (
    ContactChannel,
    ContactLog,
    ContactSource,
    FeedbackAnswer,
    LessonFeedback,
    Referral,
    ReferralCode,
    ServiceTask,
    TaskKind,
    TaskReschedule,
    TaskStatus,
)
from .planner import FIRST_CONTACT_LOOKBACK, tasks_close_for_left
from .rules import outcome_errors, work_refusal
from .selectors import FACT_FIELDS, service_settings_by_campus, service_settings_for, student_facts

logger = logging.getLogger(__name__)

FEEDBACK_DUE = datetime.timedelta(hours=24)
REFERRAL_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read out on the phone
REFERRAL_LENGTH = 8
MAX_RESCHEDULE = datetime.timedelta(days=90)


class ServiceError(ValidationError):
    """A service refused the change; ``message_dict`` (or the message) says what and where."""


def _staff_of(user: User) -> Staff | None:
    return getattr(user, "staff", None)


def _locked_task(task_id: int) -> ServiceTask:
    return (
        ServiceTask.objects.select_for_update(of=("self",))
        .select_related("teacher__user", "enrollment")
        .get(pk=task_id)
    )


@dataclass(frozen=True)
class Outcome:
    channel: str = ""
    minutes: int | None = None
    student_goal: str = ""
    student_level: str = ""
    next_step: str = ""
    notes: str = ""
    attended: bool | None = None
    renewal_outcome: str = ""
    renewal_reason: str = ""


def _summary(task: ServiceTask, outcome: Outcome) -> str:
    parts = [str(task.get_kind_display())]
    labelled = (
        (_("Goal"), outcome.student_goal),
        (_("Level"), outcome.student_level),
        (_("Next step"), outcome.next_step),
        (_("Renewal"), task.get_renewal_outcome_display() if outcome.renewal_outcome else ""),
        (_("Reason"), outcome.renewal_reason),
    )
    parts += [f"{label}: {value}" for label, value in labelled if value]
    if outcome.notes:
        parts.append(outcome.notes)
    return "\n".join(parts)


def task_complete(*, task_id: int, by: User, outcome: Outcome, at: datetime.datetime | None = None) -> ServiceTask:
    """Mark the task done with its outcome; a conversation is added to the student's contact log."""
    at = at or timezone.now()
    with transaction.atomic():
        task = _locked_task(task_id)
        refusal = work_refusal(task, _staff_of(by), today=timezone.localdate(at))
        if refusal:
            raise ServiceError(refusal)
        errors = outcome_errors(kind=task.kind, **outcome.__dict__)
        if errors:
            raise ServiceError(errors)
        for name, value in outcome.__dict__.items():
            setattr(task, name, "" if value is None and name not in ("minutes", "attended") else value)
        task.status = TaskStatus.DONE
        task.done_at = at
        task.done_by = by
        task.save()
        if task.channel:
            ContactLog.objects.create(
                student_id=task.student_id,
                staff=_staff_of(by),
                at=at,
                channel=task.channel,
                minutes=task.minutes,
                summary=_summary(task, outcome),
                source=ContactSource.TASK,
                task=task,
            )
    return task


def task_reschedule(
    *, task_id: int, by: User, to: datetime.datetime, reason: str, at: datetime.datetime | None = None
) -> ServiceTask:
    """Move an open task to another time, saying why (kept with the task)."""
    at = at or timezone.now()
    reason = (reason or "").strip()
    errors: dict[str, list[str]] = {}
    if not reason:
        errors["reason"] = [_("Say why the task moves.")]
    if to <= at:
        errors["to"] = [_("Choose a time in the future.")]
    elif to > at + MAX_RESCHEDULE:
        errors["to"] = [_("At most 90 days ahead.")]
    if errors:
        raise ServiceError(errors)
    with transaction.atomic():
        task = _locked_task(task_id)
        refusal = work_refusal(task, _staff_of(by), today=timezone.localdate(at))
        if refusal:
            raise ServiceError(refusal)
        TaskReschedule.objects.create(
            task=task, from_due_at=task.due_at, to_due_at=to, reason=reason[:300], by=by, at=at
        )
        task.due_at = to
        task.escalated_at = None
        task.save(update_fields=["due_at", "escalated_at"])
    return task


def contact_record(
    *,
    student: Student,
    by: User,
    channel: str,
    summary: str,
    minutes: int | None = None,
    at: datetime.datetime | None = None,
    ticket_id: int | None = None,
) -> ContactLog:
    """A call, chat or visit with the student outside a task (the student page's "record a contact")."""
    summary = (summary or "").strip()
    errors: dict[str, list[str]] = {}
    if channel not in ContactChannel.values:
        errors["channel"] = [_("Choose how you were in contact.")]
    if not summary:
        errors["summary"] = [_("Say what was talked about.")]
    if minutes is not None and not 0 <= minutes <= 600:
        errors["minutes"] = [_("Between 0 and 600 minutes.")]
    if errors:
        raise ServiceError(errors)
    return ContactLog.objects.create(
        student=student,
        staff=_staff_of(by),
        at=at or timezone.now(),
        channel=channel,
        minutes=minutes,
        summary=summary,
        source=ContactSource.TICKET if ticket_id else ContactSource.CALL,
        ticket_id=ticket_id,
    )


def feedback_answer(
    *, enrollment: Enrollment, answer: str, comment: str = "", at: datetime.datetime | None = None
) -> LessonFeedback:
    """Her answer to "感觉怎么样" (once; she may not change it). A bad answer makes the teacher a
    follow-up task due within a day, with her comment."""
    at = at or timezone.now()
    if answer not in FeedbackAnswer.values:
        raise ServiceError({"answer": [_("Choose one of the answers.")]})
    comment = (comment or "").strip()[:2000]
    with transaction.atomic():
        feedback, _created = LessonFeedback.objects.select_for_update().get_or_create(
            enrollment=enrollment, defaults={"asked_at": at}
        )
        if feedback.answer:
            raise ServiceError(_("You have answered already. Thank you!"))
        feedback.answer = answer
        feedback.comment = comment
        feedback.answered_at = at
        feedback.save()
        if answer == FeedbackAnswer.BAD:
            values = Enrollment.objects.filter(pk=enrollment.pk).values("pk", *FACT_FIELDS).get()
            facts = {**student_facts(values, now=at), "comment": comment}
            task, created = ServiceTask.objects.get_or_create(
                enrollment=enrollment,
                kind=TaskKind.FEEDBACK,
                trigger="",
                defaults={
                    "student_id": enrollment.order.student_id,
                    "campus_id": enrollment.order.course.campus_id,
                    "teacher_id": enrollment.homeroom_teacher_id,
                    "due_at": at + FEEDBACK_DUE,
                    "created_at": at,
                    "facts": facts,
                },
            )
            if created:
                notices.task_new(task)
    return feedback


def referral_code_for(*, student: Student, at: datetime.datetime | None = None) -> ReferralCode:
    """Her referral code, made the first time she asks for it."""
    existing = ReferralCode.objects.filter(student=student).first()
    if existing is not None:
        return existing
    for _attempt in range(5):
        code = "".join(secrets.choice(REFERRAL_ALPHABET) for _i in range(REFERRAL_LENGTH))
        try:
            with transaction.atomic():
                return ReferralCode.objects.create(student=student, code=code, created_at=at or timezone.now())
        except IntegrityError:
            existing = ReferralCode.objects.filter(student=student).first()
            if existing is not None:
                return existing
    raise RuntimeError("Could not find a free referral code.")


def referral_record(*, order: Order, code: str, at: datetime.datetime) -> Referral | None:
    """A new order named a code: record the referral and both rewards (as data; nothing is paid
    here). An unknown code, or her own, records nothing."""
    code = (code or "").strip().upper()
    owner = ReferralCode.objects.filter(code=code).select_related("student").first() if code else None
    if owner is None or owner.student_id == order.student_id:
        return None
    settings = service_settings_for(campus_id=order.course.campus_id)
    teacher_id = (
        Enrollment.objects.filter(order__student_id=owner.student_id)
        .order_by("-order__paid_at")
        .values_list("homeroom_teacher_id", flat=True)
        .first()
    )
    referral, _created = Referral.objects.get_or_create(
        order=order,
        defaults={
            "referrer_id": owner.student_id,
            "referee_id": order.student_id,
            "teacher_id": teacher_id,
            "code": code,
            "referrer_reward": settings.referrer_reward,
            "referee_reward": settings.referee_reward,
            "recorded_at": at,
        },
    )
    return referral


def first_contacts_create(*, enrollments: Sequence[Enrollment], at: datetime.datetime) -> list[ServiceTask]:
    """The first-contact tasks of new paid orders (``order__course`` loaded), due the campus's
    hours after payment, and each teacher told once; returns the tasks made now. A constant number
    of queries however many orders (the clock backfills any this missed)."""
    # An old order coming in late (a school loading its history) is nobody's first contact now.
    enrollments = [e for e in enrollments if e.order.paid_at >= at - FIRST_CONTACT_LOOKBACK]
    if not enrollments:
        return []
    campus_settings = service_settings_by_campus({e.order.course.campus_id for e in enrollments})
    ServiceTask.objects.bulk_create(
        [
            ServiceTask(
                enrollment=e,
                student_id=e.order.student_id,
                campus_id=e.order.course.campus_id,
                teacher_id=e.homeroom_teacher_id,
                kind=TaskKind.FIRST_CONTACT,
                trigger="",
                due_at=e.order.paid_at
                + datetime.timedelta(hours=campus_settings[e.order.course.campus_id].first_contact_hours),
                created_at=at,
            )
            for e in enrollments
        ],
        ignore_conflicts=True,
    )
    made = list(
        ServiceTask.objects.filter(
            enrollment__in=enrollments, kind=TaskKind.FIRST_CONTACT, trigger="", created_at=at
        ).select_related("teacher__user", "student__user", "enrollment__order__course")
    )
    notices.first_contacts_new(made)
    return made


def first_contact_create(*, enrollment: Enrollment, at: datetime.datetime) -> ServiceTask | None:
    """``first_contacts_create`` of one order: its task, or None when it had one already."""
    made = first_contacts_create(enrollments=[enrollment], at=at)
    return made[0] if made else None


@enrollment_news_writer
def enrollment_news_written(news: Sequence[EnrollmentNews]) -> None:
    """The students intake's writer (in its transaction): new paid orders get their first-contact
    tasks and, if they named a code, their referrals; a cancelled order's open tasks close; a new
    homeroom teacher takes the open tasks. A constant number of queries per batch (one more per
    order that names a code)."""
    if not news:
        return
    at = max(item.at for item in news)
    by_kind: dict[str, list[EnrollmentNews]] = {}
    for item in news:
        by_kind.setdefault(item.kind, []).append(item)
    paid = by_kind.get(EnrollmentNewsKind.PAID, [])
    if paid:
        enrollments = list(
            Enrollment.objects.filter(pk__in=[item.enrollment_id for item in paid]).select_related("order__course")
        )
        first_contacts_create(enrollments=enrollments, at=at)
        orders = {e.pk: e.order for e in enrollments}
        for item in paid:
            if item.referral_code and item.enrollment_id in orders:
                referral_record(order=orders[item.enrollment_id], code=item.referral_code, at=item.at)
    cancelled = [item.enrollment_id for item in by_kind.get(EnrollmentNewsKind.CANCELLED, [])]
    if cancelled:
        tasks_close_for_left(now=at, enrollment_ids=cancelled)
    changed = [item.enrollment_id for item in by_kind.get(EnrollmentNewsKind.CHANGED, [])]
    if changed:
        # Another homeroom teacher takes her: the open tasks go with her.
        teacher = Enrollment.objects.filter(pk=OuterRef("enrollment_id")).values("homeroom_teacher_id")[:1]
        ServiceTask.objects.filter(enrollment_id__in=changed, status=TaskStatus.OPEN).update(
            teacher_id=Subquery(teacher)
        )


@refund_event_writer(kinds=[RefundEventKind.PAYOUT_SUCCEEDED])
def close_tasks_when_refunded(event: RefundEvent) -> None:
    """Writer, in the refund event's transaction: once the money is back and the order no longer
    stands, her open service tasks close at once (the clock would close them within 5 minutes)."""
    if event.kind != RefundEventKind.PAYOUT_SUCCEEDED:
        return
    enrollment_ids = Enrollment.objects.filter(order_id=event.request.order_id).values_list("pk", flat=True)
    tasks_close_for_left(now=event.created_at, enrollment_ids=enrollment_ids)
