"""Who may work a service task and what its outcome needs: pure rules over the objects given, for
the services (after locking) and the workbench (to choose its buttons and fields)."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

from django.utils.translation import gettext as _

from schoolops.models import StaffRole

from .models import ContactChannel, RenewalOutcome, TaskKind, TaskStatus

if TYPE_CHECKING:
    from schoolops.models import Staff

    from .models import ServiceTask

Errors = dict[str, list[str]]

# A first contact is a real conversation (seed 003): a call, WeChat or a visit, not a mass message.
CONVERSATION_CHANNELS = (ContactChannel.PHONE, ContactChannel.WECHAT, ContactChannel.VISIT)


def may_work(task: ServiceTask, staff: Staff | None, *, today: datetime.date) -> bool:
    """The task's teacher, the colleague she delegated to while she is away, her manager, and her
    campus's supervisors and head."""
    if staff is None or not staff.user.is_active:
        return False
    teacher = task.teacher
    if staff.pk == teacher.pk:
        return True
    if staff.campus_id != task.campus_id:
        return False
    if staff.role in (StaffRole.SUPERVISOR, StaffRole.CAMPUS_HEAD):
        return True
    delegate = teacher.active_delegate(today)
    return delegate is not None and delegate.pk == staff.pk


def work_refusal(task: ServiceTask, staff: Staff | None, *, today: datetime.date) -> str:
    """Why ``staff`` may not complete or reschedule ``task`` now ("" if they may)."""
    if task.status != TaskStatus.OPEN:
        return _("This task is no longer open: %(status)s.") % {"status": task.get_status_display()}
    if not may_work(task, staff, today=today):
        return _("Only the student's homeroom teacher, her delegate or her supervisors work this task.")
    return ""


def outcome_errors(
    *,
    kind: str,
    channel: str,
    minutes: int | None,
    student_goal: str = "",
    student_level: str = "",
    next_step: str = "",
    notes: str = "",
    attended: bool | None = None,
    renewal_outcome: str = "",
    renewal_reason: str = "",
) -> Errors:
    """What a task's outcome lacks, keyed by field (empty: it may be marked done)."""
    errors: Errors = {}

    def need(field: str, value) -> None:
        if value in (None, ""):
            errors.setdefault(field, []).append(_("This field is required for this task."))

    if kind == TaskKind.LESSON_REMINDER:
        need("attended", attended)
        return errors
    need("channel", channel)
    if kind == TaskKind.FIRST_CONTACT:
        if channel and channel not in CONVERSATION_CHANNELS:
            errors.setdefault("channel", []).append(
                _("The first contact is a real call, a WeChat conversation or a visit, not a message.")
            )
        need("minutes", minutes)
        need("student_goal", student_goal)
        need("student_level", student_level)
        need("next_step", next_step)
    elif kind == TaskKind.RENEWAL:
        need("renewal_outcome", renewal_outcome)
        if renewal_outcome == RenewalOutcome.DECLINED:
            need("renewal_reason", renewal_reason)
    else:
        need("notes", notes)
    if minutes is not None and minutes > 600:
        errors.setdefault("minutes", []).append(_("At most 600 minutes."))
    return errors
