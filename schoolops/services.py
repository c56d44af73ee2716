"""Writes of the organisation: a staff member's out-of-office delegate; their role, campus and account.

Which role a staff member has decides what they may see and approve (``roles.py``: one group per
role), so giving one is a permission of its own (``schoolops.change_staff_role``) that nobody
uses on their own row, on their delegate's, or on the row of someone they stand in for. Each
change is written to the staff member's history (who, when, from what to what) and logged.
"""

from __future__ import annotations

import datetime
import logging

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from .delegation import delegate_errors
from .history import REQUEST_USER, history_note
from .models import Campus, Staff, StaffRole, User

logger = logging.getLogger(__name__)

CHANGE_STAFF_ROLE = "schoolops.change_staff_role"


def staff_delegate_set(
    *,
    staff: Staff,
    delegate: Staff | None,
    date_from: datetime.date | None,
    date_until: datetime.date | None,
    actor: User | None = None,
) -> Staff:
    """Set who acts for ``staff`` from ``date_from`` to ``date_until`` (Asia/Shanghai days, both
    included), or clear the delegation with ``delegate=None`` and no dates.

    Raises ``ValidationError`` keyed by field and changes nothing when the delegation is not
    allowed. The change is recorded in the staff member's history (simple-history), naming
    ``actor`` when given (otherwise the user of the current request, if any).
    """
    errors = delegate_errors(staff=staff, delegate=delegate, date_from=date_from, date_until=date_until)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked: Staff = Staff.objects.select_for_update(of=("self",)).order_by().get(pk=staff.pk)
        locked.delegate = delegate
        locked.delegate_from = date_from if delegate is not None else None
        locked.delegate_until = date_until if delegate is not None else None
        history_note(
            locked,
            user=actor if actor is not None else REQUEST_USER,
            reason="delegate set" if delegate is not None else "delegate cleared",
        )
        locked.save(update_fields=["delegate", "delegate_from", "delegate_until"])
    staff.delegate = locked.delegate
    staff.delegate_from = locked.delegate_from
    staff.delegate_until = locked.delegate_until
    return locked


def staff_role_change_refusal(*, actor: User, staff: Staff | None = None, user: User | None = None) -> str | None:
    """Why ``actor`` may not give ``staff``'s row (or, for a new row, ``user``) a role, campus or
    account; None when they may. Shared by the staff admin (which fields it offers) and
    ``staff_role_set``.
    """
    if not actor.has_perm(CHANGE_STAFF_ROLE):
        return _("Changing a staff member's role, campus or account needs the permission to assign roles.")
    if (staff is not None and staff.user_id == actor.pk) or (user is not None and user.pk == actor.pk):
        return _("Nobody changes their own role, campus or account; ask another administrator.")
    own = Staff.objects.filter(user_id=actor.pk).only("pk", "delegate_id").first() if staff is not None else None
    if staff is not None and own is not None and (own.delegate_id == staff.pk or staff.delegate_id == own.pk):
        return _(
            "You cannot change the role, campus or account of your own out-of-office delegate, or of "
            "someone you stand in for; ask another administrator."
        )
    return None


def staff_role_set(
    *,
    staff: Staff,
    actor: User,
    role: str,
    campus: Campus,
    user: User | None = None,
) -> Staff:
    """Give ``staff`` the ``role`` at ``campus`` (and move the row to ``user``'s account if given).

    Raises ``PermissionDenied`` when ``actor`` may not (``staff_role_change_refusal``, checked
    again for the new account) and ``ValidationError`` for a role that does not exist or a
    delegate the new campus rules out; nothing changes then. The history row names the actor and
    says what changed; the user's groups follow the role (``Staff.save``).
    """
    if role not in StaffRole.values:
        raise ValidationError({"role": _("Choose one of the roles.")})
    with transaction.atomic():
        locked: Staff = Staff.objects.select_for_update(of=("self",)).select_related("campus", "user").get(pk=staff.pk)
        new_user = user or locked.user
        refusal = staff_role_change_refusal(actor=actor, staff=locked) or staff_role_change_refusal(
            actor=actor, user=new_user
        )
        if refusal:
            raise PermissionDenied(refusal)
        if locked.delegate_id and campus.pk != locked.campus_id:
            errors = delegate_errors(
                staff=Staff(pk=locked.pk, campus=campus),
                delegate=locked.delegate,
                date_from=locked.delegate_from,
                date_until=locked.delegate_until,
            )
            if errors:
                raise ValidationError(errors)
        changes = "; ".join(
            f"{name} {old} -> {new}"
            for name, old, new in (
                ("role", locked.role, role),
                ("campus", locked.campus.code, campus.code),
                ("user", locked.user.username, new_user.username),
            )
            if old != new
        )
        if not changes:
            return locked
        locked.role = role
        locked.campus = campus
        locked.user = new_user
        history_note(locked, user=actor, reason=changes)  # the row itself keeps the new values
        locked.save(update_fields=["role", "campus", "user"])
    logger.info("Staff role changed by %s for staff #%s: %s", actor.username, locked.pk, changes)
    staff.role, staff.campus, staff.user = locked.role, locked.campus, locked.user
    return locked


def staff_add(*, staff: Staff, actor: User) -> Staff:
    """Save a new staff row: giving someone a role needs the same permission as changing one.

    Raises ``PermissionDenied`` when ``actor`` may not (nobody gives themselves a role). The
    history row names the actor; the user gets their role's group (``roles.staff_saved``).
    """
    refusal = staff_role_change_refusal(actor=actor, user=staff.user)
    if refusal:
        raise PermissionDenied(refusal)
    changes = f"added: role {staff.role}; campus {staff.campus.code}; user {staff.user.username}"
    history_note(staff, user=actor, reason=changes)
    with transaction.atomic():
        staff.save()
    logger.info("Staff added by %s as staff #%s: %s", actor.username, staff.pk, changes)
    return staff
