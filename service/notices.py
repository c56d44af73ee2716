"""What student service tells people, written to the outbox inside the change's transaction.
Each message has a key per occurrence, so a repeated run sends nothing new."""

from __future__ import annotations

import datetime
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from functools import partial

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from notifications.services.outbox import notify
from notifications.services.recipients import (
    STAFF_CHANNELS,
    campus_robots,
    recipient_for_user,
    school_contact,
    site_url,
)
from orders.models import Order
from schoolops.models import Staff, StaffRole
from students.models import Enrollment

from .events import AT_RISK, FEEDBACK_ASKED, LESSON_REMINDER, TASK_NEW, TASKS_OVERDUE
from .models import ServiceTask, TaskKind

STUDENT_CHANNELS = ("inbox", "email", "sms")
LISTED = 20


def _local(at: datetime.datetime | None) -> str:
    return f"{timezone.localtime(at):%Y-%m-%d %H:%M}" if at else ""


def workbench_link() -> str:
    return site_url(reverse("admin:service_servicetask_changelist"))


def task_link(task: ServiceTask) -> str:
    return site_url(reverse("admin:service_servicetask_change", args=[task.pk]))


def _enrollments(ids: Iterable[int]):
    return Enrollment.objects.filter(pk__in=list(ids)).select_related("order__course", "order__student__user")


def _task_context(task: ServiceTask) -> dict[str, str]:
    order = task.enrollment.order
    student = task.student
    return {
        "student_name": student.name,
        "course": order.course.name,
        "task": task.get_kind_display(),
        "due": _local(task.due_at),
        "details": _("Phone %(phone)s; paid %(paid)s.")
        % {"phone": student.phone or "-", "paid": _local(order.paid_at)},
        "link": task_link(task),
    }


def task_new(task: ServiceTask) -> None:
    """The teacher is told of a task an event made (a bad first lesson, a new student to call)."""
    notify(
        key=f"service-task:{task.pk}",
        event=TASK_NEW,
        recipients=[recipient_for_user(task.teacher.user)],
        context=partial(_task_context, task),
        channels=STAFF_CHANNELS,
    )


def _digest_context(tasks: Sequence[ServiceTask]) -> dict[str, str]:
    names = "、".join(t.student.name for t in tasks[:3])
    lines = [
        _("%(name)s · %(course)s · phone %(phone)s · due %(due)s")
        % {
            "name": t.student.name,
            "course": t.enrollment.order.course.name,
            "phone": t.student.phone or "-",
            "due": _local(t.due_at),
        }
        for t in tasks[:LISTED]
    ]
    if len(tasks) > LISTED:
        lines.append(_("and %(n)d more") % {"n": len(tasks) - LISTED})
    return {
        "student_name": _("%(names)s and others (%(n)d in all)") % {"names": names, "n": len(tasks)},
        "course": "、".join(sorted({t.enrollment.order.course.name for t in tasks})),
        "task": tasks[0].get_kind_display(),
        "due": _local(min(t.due_at for t in tasks)),
        "details": "\n".join(lines),
        "link": workbench_link(),
    }


def first_contacts_new(tasks: Sequence[ServiceTask]) -> None:
    """New students to call: one message per teacher (the task itself when she has one)."""
    by_teacher: dict[int, list[ServiceTask]] = defaultdict(list)
    for task in tasks:
        by_teacher[task.teacher_id].append(task)
    for own in by_teacher.values():
        if len(own) == 1:
            task_new(own[0])
            continue
        notify(
            key=f"service-tasks:{own[0].pk}:{len(own)}",
            event=TASK_NEW,
            recipients=[recipient_for_user(own[0].teacher.user)],
            context=partial(_digest_context, own),
            channels=STAFF_CHANNELS,
        )


def _reminder_context(order: Order) -> dict[str, str]:
    return {
        "course": order.course.name,
        "starts": _local(order.course.starts_at),
        "link": site_url(reverse("portal:order", args=[order.order_no])),
        "contact": school_contact(),
    }


def _feedback_context(order: Order) -> dict[str, str]:
    return {
        "course": order.course.name,
        "link": site_url(reverse("portal:lesson_feedback", args=[order.order_no])),
        "contact": school_contact(),
    }


def _tell_students(enrollment_ids: Sequence[int], *, event: str, key: str, context) -> None:
    """One message per enrollment to its student on her channels (``key`` % the enrollment)."""
    for enrollment in _enrollments(enrollment_ids):
        order = enrollment.order
        student = order.student
        notify(
            key=key % enrollment.pk,
            event=event,
            recipients=[recipient_for_user(student.user, openid=student.wechat_openid)],
            context=partial(context, order),
            channels=STUDENT_CHANNELS,
        )


def first_lesson_reminders(enrollment_ids: Sequence[int]) -> None:
    _tell_students(enrollment_ids, event=LESSON_REMINDER, key="service-reminder:%d", context=_reminder_context)


def feedback_questions(enrollment_ids: Sequence[int]) -> None:
    _tell_students(enrollment_ids, event=FEEDBACK_ASKED, key="service-feedback:%d", context=_feedback_context)


def at_risk_alerts(*, campus_id: int, now: datetime.datetime) -> None:
    """One alert per teacher per run, listing her students who stopped learning (the inactive tasks
    this run made at ``now``), with their figures. Rows are read as values: a first run may make
    tens of thousands."""
    rows = (
        ServiceTask.objects.filter(campus_id=campus_id, kind=TaskKind.INACTIVE, created_at=now)
        .order_by("teacher_id", "pk")
        .values_list("pk", "teacher_id", "student__user__name", "student__user__username", "facts")
    )
    by_teacher: dict[int, list[tuple]] = defaultdict(list)
    for row in rows.iterator(chunk_size=2000):
        own = by_teacher[row[1]]
        own.append(row if len(own) < LISTED else row[:2])
    teachers = Staff.objects.filter(pk__in=list(by_teacher)).select_related("user")
    for teacher in teachers:
        own = by_teacher[teacher.pk]

        def context(own=own) -> dict[str, str]:
            lines = [
                _("%(name)s (no learning for %(days)s days, %(completion)s%% done)")
                % {
                    "name": name or username,
                    "days": facts.get("days_inactive", "?"),
                    "completion": facts.get("completion", "0"),
                }
                for _pk, _teacher, name, username, facts in own[:LISTED]
            ]
            if len(own) > LISTED:
                lines.append(_("and %(n)d more") % {"n": len(own) - LISTED})
            return {"count": str(len(own)), "students": "\n".join(lines), "link": workbench_link()}

        notify(
            key=f"service-at-risk:{teacher.pk}:{own[0][0]}",
            event=AT_RISK,
            recipients=[recipient_for_user(teacher.user)],
            context=context,
            channels=STAFF_CHANNELS,
        )


def supervisors_of(teacher: Staff, campus_supervisors: Sequence[Staff]) -> list[Staff]:
    """Who is told about a teacher's overdue tasks: her manager, else her campus's supervisors."""
    manager = teacher.manager
    if manager is not None and manager.user.is_active:
        return [manager]
    return [s for s in campus_supervisors if s.campus_id == teacher.campus_id]


def _names(teachers: Sequence[Staff]) -> str:
    shown = "、".join(str(t.user) for t in teachers[:3])
    if len(teachers) > 3:
        return _("%(names)s and others (%(n)d in all)") % {"names": shown, "n": len(teachers)}
    return shown


def tasks_overdue(tasks: Sequence[tuple[int, int, str]], *, campus_id: int) -> None:
    """The tasks (pk, teacher, kind) that just became overdue: one message per supervisor listing
    her teachers' counts by task, and one to the campus's staff robots."""
    per_teacher: dict[int, Counter] = defaultdict(Counter)
    for _pk, teacher_id, kind in tasks:
        per_teacher[teacher_id][kind] += 1
    first = min(pk for pk, _t, _k in tasks)
    teachers = list(Staff.objects.filter(pk__in=list(per_teacher)).select_related("user", "manager__user"))
    supervisors = list(
        Staff.objects.active().filter(role=StaffRole.SUPERVISOR, campus_id=campus_id).select_related("user")
    )
    labels = dict(TaskKind.choices)

    def context_for(own: Sequence[Staff]) -> Callable[[], dict[str, str]]:
        def context() -> dict[str, str]:
            lines = []
            for teacher in own[:LISTED]:
                kinds = "、".join(f"{labels[kind]} {count}" for kind, count in sorted(per_teacher[teacher.pk].items()))
                lines.append(
                    _("%(teacher)s: %(count)d overdue (%(kinds)s)")
                    % {"teacher": teacher.user, "count": sum(per_teacher[teacher.pk].values()), "kinds": kinds}
                )
            if len(own) > LISTED:
                lines.append(_("and %(n)d more") % {"n": len(own) - LISTED})
            query = f"?teacher={own[0].pk}&due=overdue" if len(own) == 1 else "?due=overdue"
            return {
                "teacher_name": _names(own),
                "count": str(sum(sum(per_teacher[t.pk].values()) for t in own)),
                "tasks": "\n".join(lines),
                "link": workbench_link() + query,
            }

        return context

    by_supervisor: dict[Staff, list[Staff]] = defaultdict(list)
    for teacher in teachers:
        for supervisor in supervisors_of(teacher, supervisors):
            by_supervisor[supervisor].append(teacher)
    for supervisor, own in by_supervisor.items():
        notify(
            key=f"service-overdue:{supervisor.pk}:{first}",
            event=TASKS_OVERDUE,
            recipients=[recipient_for_user(supervisor.user)],
            context=context_for(own),
            channels=STAFF_CHANNELS,
        )
    robots = campus_robots(event=TASKS_OVERDUE, campus_ids=[campus_id])
    if robots:
        notify(
            key=f"service-overdue:campus-{campus_id}:{first}",
            event=TASKS_OVERDUE,
            recipients=robots,
            context=context_for(teachers),
            channels=("webhook",),
        )
