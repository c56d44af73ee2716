"""What student service tells people, written to the outbox inside the change's transaction.
Each message has a key per occurrence, so a repeated run sends nothing new."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from functools import partial

from django.db.models import Q
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
from .models import ServiceTask

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


def task_new(task: ServiceTask) -> None:
    """The teacher is told of a task an event made (a new student to call, a bad first lesson)."""
    teacher = task.teacher
    enrollment = task.enrollment
    order = enrollment.order
    student = order.student

    def context() -> dict[str, str]:
        return {
            "student_name": student.name,
            "course": order.course.name,
            "task": task.get_kind_display(),
            "due": _local(task.due_at),
            "details": _("Phone %(phone)s; paid %(paid)s.")
            % {"phone": student.phone or "-", "paid": _local(order.paid_at)},
            "link": task_link(task),
        }

    notify(
        key=f"service-task:{task.pk}",
        event=TASK_NEW,
        recipients=[recipient_for_user(teacher.user)],
        context=context,
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


def first_lesson_reminders(enrollment_ids: Sequence[int]) -> None:
    for enrollment in _enrollments(enrollment_ids):
        order = enrollment.order
        student = order.student
        notify(
            key=f"service-reminder:{enrollment.pk}",
            event=LESSON_REMINDER,
            recipients=[recipient_for_user(student.user, openid=student.wechat_openid)],
            context=partial(_reminder_context, order),
            channels=STUDENT_CHANNELS,
        )


def feedback_questions(enrollment_ids: Sequence[int]) -> None:
    for enrollment in _enrollments(enrollment_ids):
        order = enrollment.order
        student = order.student
        notify(
            key=f"service-feedback:{enrollment.pk}",
            event=FEEDBACK_ASKED,
            recipients=[recipient_for_user(student.user, openid=student.wechat_openid)],
            context=partial(_feedback_context, order),
            channels=STUDENT_CHANNELS,
        )


def at_risk_alerts(enrollment_ids: Sequence[int], *, now: datetime.datetime) -> None:
    """One alert per teacher per run, listing her students who stopped learning, with their figures."""
    tasks = (
        ServiceTask.objects.filter(enrollment_id__in=list(enrollment_ids), kind="inactive", created_at=now)
        .select_related("teacher__user", "student__user")
        .order_by("teacher_id", "pk")
    )
    by_teacher: dict[Staff, list[ServiceTask]] = {}
    for task in tasks:
        by_teacher.setdefault(task.teacher, []).append(task)
    for teacher, own in by_teacher.items():

        def context(own=own) -> dict[str, str]:
            lines = [
                _("%(name)s (no learning for %(days)s days, %(completion)s%% done)")
                % {
                    "name": t.student.name,
                    "days": t.facts.get("days_inactive", "?"),
                    "completion": t.facts.get("completion", "0"),
                }
                for t in own[:LISTED]
            ]
            if len(own) > LISTED:
                lines.append(_("and %(n)d more") % {"n": len(own) - LISTED})
            return {"count": str(len(own)), "students": "\n".join(lines), "link": workbench_link()}

        notify(
            key=f"service-at-risk:{teacher.pk}:{own[0].pk}",
            event=AT_RISK,
            recipients=[recipient_for_user(teacher.user)],
            context=context,
            channels=STAFF_CHANNELS,
        )


def supervisors_of(teacher: Staff) -> list[Staff]:
    """Who is told about a teacher's overdue tasks: her manager, else her campus's supervisors."""
    manager = teacher.manager
    if manager is not None and manager.user.is_active:
        return [manager]
    return list(
        Staff.objects.active().filter(Q(role=StaffRole.SUPERVISOR), campus_id=teacher.campus_id).select_related("user")
    )


def tasks_overdue(by_teacher: Mapping[int, list[int]], *, campus_id: int) -> None:
    teachers = Staff.objects.filter(pk__in=list(by_teacher)).select_related("user", "manager__user")
    for teacher in teachers:
        ids = by_teacher[teacher.pk]
        tasks = list(ServiceTask.objects.filter(pk__in=ids[:LISTED]).select_related("student__user").order_by("due_at"))

        def context(teacher=teacher, ids=ids, tasks=tasks) -> dict[str, str]:
            lines = [
                _("%(task)s · %(student)s · due %(due)s")
                % {"task": t.get_kind_display(), "student": t.student.name, "due": _local(t.due_at)}
                for t in tasks
            ]
            if len(ids) > LISTED:
                lines.append(_("and %(n)d more") % {"n": len(ids) - LISTED})
            return {
                "teacher_name": str(teacher.user),
                "count": str(len(ids)),
                "tasks": "\n".join(lines),
                "link": workbench_link() + f"?teacher={teacher.pk}&due=overdue",
            }

        key = f"service-overdue:{teacher.pk}:{ids[0]}"
        people = [recipient_for_user(s.user) for s in supervisors_of(teacher)]
        notify(key=key, event=TASKS_OVERDUE, recipients=people, context=context, channels=STAFF_CHANNELS)
        robots = campus_robots(event=TASKS_OVERDUE, campus_ids=[campus_id])
        notify(key=key, event=TASKS_OVERDUE, recipients=robots, context=context, channels=("webhook",))
