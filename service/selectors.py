"""Reads of student service: a campus's settings, the student's figures a task is made with, her
first-lesson question, referrals (her code, her referrals, the counts per student and teacher), who
sees which tasks and students, the workbench's tabs, a task's page and the student page."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar

from django.db import models
from django.db.models import Count, Prefetch, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from notifications.models import Notification
from orders.models import ACTIVE_ORDER_STATUSES, Order
from refunds.models import RefundRequest
from schoolops.models import Staff, StaffRole, User
from schoolops.scoping import visible_campus_ids
from servicedesk.models import MessageKind, Ticket, TicketMessage
from students.models import Enrollment, Student

from .models import (
    ContactLog,
    ContactSource,
    LessonFeedback,
    Referral,
    ReferralCode,
    Script,
    ServiceSettings,
    ServiceTask,
    TaskReschedule,
    TaskStatus,
)

# An enrollment is served while its order stands (ACTIVE_ORDER_STATUSES: a refunded, cancelled or
# exchanged order has left).

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


# --- Who sees which tasks and students -----------------------------------------------------------
#
# A homeroom teacher sees her own students' tasks and those of colleagues who delegated to her for
# today; a supervisor her team's (``Staff.manager``) and her campus's; a campus head her campus's;
# head office and superusers every campus. The student page follows the same reach: a teacher
# only the students she serves (an enrollment of hers or of a colleague she stands in for).


def _reach(staff: Staff, *, today: datetime.date) -> QuerySet[Staff, dict[str, Any]]:
    """The teachers whose students ``staff`` serves: herself, whoever delegated to her for today
    and, for a supervisor, her team. A subquery, so the tasks' own columns carry the condition
    (their indexes, no join before the page is cut)."""
    reach = Q(pk=staff.pk) | Q(delegate=staff.pk, delegate_from__lte=today, delegate_until__gte=today)
    if staff.role == StaffRole.SUPERVISOR:
        reach |= Q(manager=staff.pk)
    return Staff.objects.filter(reach).values("pk")


_Row = TypeVar("_Row", ServiceTask, Staff, Student)


def _staff_of(user: User) -> Staff | None:
    return getattr(user, "staff", None)


def _visible(
    queryset: QuerySet[_Row], *, user: User, today: datetime.date, reach: Callable[[QuerySet[Staff, Any]], Q]
) -> QuerySet[_Row]:
    """``queryset`` as ``user`` may read it: a homeroom teacher what ``reach`` (a Q of the teachers
    she covers) selects; supervisors and campus heads that and their campuses'; head office all."""
    if user.is_superuser:
        return queryset
    staff = _staff_of(user)
    campus_ids = visible_campus_ids(user)
    if staff is None:
        return queryset if campus_ids is None else queryset.none()
    covered = reach(_reach(staff, today=today))
    if staff.role == StaffRole.HOMEROOM:
        return queryset.filter(covered)
    if campus_ids is None:
        return queryset
    return queryset.filter(covered | Q(campus_id__in=campus_ids))


def tasks_visible_to(*, user: User, today: datetime.date) -> QuerySet[ServiceTask]:
    """The service tasks ``user`` may read (the workbench, a task's page, "next task")."""
    return _visible(
        ServiceTask.objects.all(),
        user=user,
        today=today,
        reach=lambda teachers: Q(teacher_id__in=teachers),
    )


def teachers_visible_to(*, user: User, today: datetime.date) -> QuerySet[Staff]:
    """The homeroom teachers whose tasks ``user`` sees (the workbench's teacher filter)."""
    return _visible(
        Staff.objects.filter(role=StaffRole.HOMEROOM).select_related("user").order_by("user__name", "pk"),
        user=user,
        today=today,
        reach=lambda teachers: Q(pk__in=teachers),
    )


def students_visible_to(*, user: User, today: datetime.date) -> QuerySet[Student]:
    """The students whose service page ``user`` may open."""
    return _visible(
        Student.objects.all(),
        user=user,
        today=today,
        reach=lambda teachers: Q(
            pk__in=Enrollment.objects.filter(homeroom_teacher_id__in=teachers).values("order__student_id")
        ),
    )


# --- The workbench's tabs ------------------------------------------------------------------------


class Tab(models.TextChoices):
    TODAY = "today", _("Today")
    OVERDUE = "overdue", _("Overdue")
    UPCOMING = "upcoming", _("Next 7 days")
    DONE = "done", _("Done")


UPCOMING_DAYS = 7


def day_bounds(now: datetime.datetime) -> tuple[datetime.datetime, datetime.datetime]:
    """The start of today and of tomorrow on the school's clock (Asia/Shanghai)."""
    start = timezone.make_aware(datetime.datetime.combine(timezone.localdate(now), datetime.time.min))
    return start, start + datetime.timedelta(days=1)


def tab_condition(tab: str, *, now: datetime.datetime) -> Q:
    """Today: open and due today (late ones included); overdue: open and past due; upcoming: open
    and due in the 7 days after today; done: done or closed."""
    start, end = day_bounds(now)
    if tab == Tab.OVERDUE:
        return Q(status=TaskStatus.OPEN, due_at__lt=now)
    if tab == Tab.UPCOMING:
        return Q(status=TaskStatus.OPEN, due_at__gte=end, due_at__lt=end + datetime.timedelta(days=UPCOMING_DAYS))
    if tab == Tab.DONE:
        return ~Q(status=TaskStatus.OPEN)
    return Q(status=TaskStatus.OPEN, due_at__gte=start, due_at__lt=end)


def tab_counts(tasks: QuerySet[ServiceTask], *, now: datetime.datetime) -> dict[str, int]:
    """How many of ``tasks`` each tab holds, in one query."""
    counts: dict[str, int] = tasks.order_by().aggregate(
        **{tab: Count("pk", filter=tab_condition(tab, now=now)) for tab in Tab.values}
    )
    return counts


def workbench_related() -> tuple[Prefetch[Any, Any, Any], ...]:
    """What a workbench row shows besides the task, loaded for the page's rows only: three
    queries whatever their number. (Joined into the list's query instead, PostgreSQL would join
    every task of the tab before cutting the page: 60 ms for a campus's 7,000 done tasks.)"""
    return (
        Prefetch("student", queryset=Student.objects.select_related("user")),
        Prefetch("enrollment", queryset=Enrollment.objects.select_related("order__course")),
        Prefetch("teacher", queryset=Staff.objects.select_related("user")),
    )


# --- A task's page ---------------------------------------------------------------------------------

TASK_PAGE_RELATED = ("student__user", "campus", "teacher__user", "enrollment__order__course", "done_by")


def task_page_for_staff(*, user: User, task_id: int, today: datetime.date) -> ServiceTask | None:
    """A task ``user`` may read, with its student, course, teacher and reschedules (``reschedule_rows``)."""
    reschedules = TaskReschedule.objects.select_related("by").order_by("-at", "-pk")
    return (
        tasks_visible_to(user=user, today=today)
        .select_related(*TASK_PAGE_RELATED)
        .prefetch_related(Prefetch("reschedules", queryset=reschedules, to_attr="reschedule_rows"))
        .filter(pk=task_id)
        .first()
    )


def task_history(task: ServiceTask, *, limit: int = 30) -> list[Any]:
    """The task's last recorded versions, oldest first, with who made each."""
    manager = task.history
    newest = list(manager.select_related("history_user").order_by("-history_date", "-history_id")[:limit])
    return newest[::-1]


def next_open_task(*, user: User, after: ServiceTask, today: datetime.date) -> ServiceTask | None:
    """The open task to do next: the earliest due in the teacher's queue (a homeroom teacher's own
    queue, delegated tasks included; for a supervisor, the same teacher's)."""
    tasks = tasks_visible_to(user=user, today=today).filter(status=TaskStatus.OPEN).exclude(pk=after.pk)
    staff = _staff_of(user)
    if staff is None or staff.role != StaffRole.HOMEROOM:
        tasks = tasks.filter(teacher_id=after.teacher_id)
    return tasks.select_related("student__user").order_by("due_at", "pk").first()


def enrollment_facts(enrollment: Enrollment, *, now: datetime.datetime) -> dict[str, Any]:
    """``student_facts`` of a loaded enrollment (with its order's course)."""
    values: dict[str, Any] = {name: getattr(enrollment, name) for name in FACT_FIELDS if "__" not in name}
    values["order__course__lessons"] = enrollment.order.course.lessons
    return student_facts(values, now=now)


def scripts_for(scenario: str) -> list[Script]:
    """The scenario's scripts in use, in their order."""
    return list(Script.objects.filter(scenario=scenario, active=True).order_by("position", "pk"))


# --- The student page ----------------------------------------------------------------------------

LISTED_MESSAGES = 50
LISTED_CONTACTS = 100


@dataclass(frozen=True)
class ContactRow:
    """One entry of the student's contact log: a logged contact or a reply to one of her tickets."""

    at: datetime.datetime
    channel: str
    minutes: int | None
    summary: str
    by: str
    source: str
    task_id: int | None = None
    ticket_id: int | None = None
    ticket_no: str = ""


@dataclass
class StudentPage:
    student: Student
    enrollments: list[Enrollment]
    orders: list[Order]
    refunds: list[RefundRequest]
    tickets: list[Ticket]
    messages: list[Notification]
    contacts: list[ContactRow]
    open_tasks: list[ServiceTask] = field(default_factory=list)


def contact_rows(*, student: Student, limit: int = LISTED_CONTACTS) -> list[ContactRow]:
    """Her contact log merged with the replies to her tickets, newest first."""
    logged = ContactLog.objects.filter(student=student).select_related("staff__user", "ticket").order_by("-at", "-pk")
    replies = (
        TicketMessage.objects.filter(ticket__student=student, kind=MessageKind.REPLY)
        .select_related("author", "ticket")
        .order_by("-created_at", "-pk")
    )
    rows = [
        ContactRow(
            at=c.at,
            channel=c.get_channel_display(),
            minutes=c.minutes,
            summary=c.summary,
            by=c.staff.name if c.staff is not None else "",
            source=c.get_source_display(),
            task_id=c.task_id,
            ticket_id=c.ticket_id,
            ticket_no=c.ticket.ticket_no if c.ticket is not None else "",
        )
        for c in logged[:limit]
    ]
    rows += [
        ContactRow(
            at=m.created_at,
            channel=str(_("Ticket reply")),
            minutes=None,
            summary=m.body,
            by=str(m.author) if m.author is not None else "",
            source=str(ContactSource.TICKET.label),
            ticket_id=m.ticket_id,
            ticket_no=m.ticket.ticket_no,
        )
        for m in replies[:limit]
    ]
    rows.sort(key=lambda row: row.at, reverse=True)
    return rows[:limit]


def student_page_for_staff(*, user: User, student_id: int, now: datetime.datetime) -> StudentPage | None:
    """Everything the student page shows, a fixed number of queries whatever her history; None
    when ``user`` may not open her page."""
    today = timezone.localdate(now)
    student = students_visible_to(user=user, today=today).select_related("user", "campus").filter(pk=student_id).first()
    if student is None:
        return None
    enrollments = list(
        Enrollment.objects.filter(order__student=student)
        .select_related("order__course", "homeroom_teacher__user")
        .order_by("-order__paid_at", "-pk")
    )
    for enrollment in enrollments:
        enrollment.facts = enrollment_facts(enrollment, now=now)  # type: ignore[attr-defined]
    return StudentPage(
        student=student,
        enrollments=enrollments,
        orders=list(Order.objects.filter(student=student).select_related("course").order_by("-paid_at", "-pk")),
        refunds=list(
            RefundRequest.objects.filter(student=student).select_related("order").order_by("-submitted_at", "-pk")
        ),
        tickets=list(Ticket.objects.filter(student=student).order_by("-created_at", "-pk")),
        messages=list(
            Notification.objects.filter(recipient_id=student.user_id).order_by("-created_at", "-pk")[:LISTED_MESSAGES]
        ),
        contacts=contact_rows(student=student),
        open_tasks=list(
            tasks_visible_to(user=user, today=today)
            .filter(student=student, status=TaskStatus.OPEN)
            .select_related("enrollment__order__course")
            .order_by("due_at", "pk")
        ),
    )
