"""The student's high-risk flag: set by a person or an alert rule, cleared by a supervisor.

A high-risk student's refund requests never pass the automatic check (``refunds`` reads the flag),
so a person always decides them; every approval page and list shows who flagged her, when and why.
Both writes keep the reason in the student's history (simple-history).
"""

from __future__ import annotations

import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from schoolops.errors import ActionRefused
from schoolops.history import history_note
from schoolops.models import User
from schoolops.scoping import visible_campus_ids

from .models import Student

MANAGE_PERMISSION = "students.manage_high_risk"


def student_flag_high_risk(
    *, student_id: int, note: str, by: User | None = None, at: datetime.datetime | None = None
) -> bool:
    """Flag the student high-risk, with why: ``by`` a teaching supervisor of her campus, or None
    for an alert rule. False if she already was."""
    note = note.strip()
    if not note:
        raise ActionRefused(_("Say why the student is flagged."))
    with transaction.atomic():
        student = Student.objects.select_for_update().get(pk=student_id)
        if by is not None and not _may_manage(by, student):
            raise ActionRefused(_("Only a teaching supervisor of the student's campus may flag or clear her."))
        if student.high_risk:
            return False
        student.high_risk = True
        student.high_risk_note = note[:200]
        student.high_risk_at = at or timezone.now()
        student.high_risk_by = by
        history_note(student, user=by, reason=note)
        student.save(update_fields=["high_risk", "high_risk_note", "high_risk_at", "high_risk_by"])
    return True


def student_clear_high_risk(*, student_id: int, actor: User, reason: str) -> Student:
    """Clear the flag, with the reason; a supervisor of the student's campus (or anyone holding
    ``students.manage_high_risk`` for every campus). Refused with a message otherwise."""
    reason = reason.strip()
    if not reason:
        raise ActionRefused(_("Say why the flag is cleared."))
    with transaction.atomic():
        student = Student.objects.select_for_update().get(pk=student_id)
        if not _may_manage(actor, student):
            raise ActionRefused(_("Only a teaching supervisor of the student's campus may flag or clear her."))
        if not student.high_risk:
            raise ActionRefused(_("The student is not flagged high-risk."))
        student.high_risk = False
        student.high_risk_cleared_at = timezone.now()
        student.high_risk_cleared_by = actor
        student.high_risk_cleared_reason = reason[:300]
        history_note(student, user=actor, reason=reason)
        student.save(
            update_fields=["high_risk", "high_risk_cleared_at", "high_risk_cleared_by", "high_risk_cleared_reason"]
        )
    return student


def _may_manage(user: User, student: Student) -> bool:
    ids = visible_campus_ids(user)
    return user.has_perm(MANAGE_PERMISSION) and (ids is None or student.campus_id in ids)
