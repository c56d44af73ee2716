"""Writes of the organisation: a staff member's out-of-office delegate."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from .models import Staff, User


def staff_delegate_errors(
    *,
    staff: Staff,
    delegate: Staff | None,
    date_from: datetime.date | None,
    date_until: datetime.date | None,
) -> dict[str, list[str]]:
    """What is wrong with this delegation, keyed by the ``Staff`` field it concerns (empty: nothing).

    A delegate is another active staff member of the same campus: only they see and act on the
    absent person's queue (``refund_queue_for_staff`` and ``step_can_act`` look at the campus).
    Shared by the "my delegate" page and the staff admin, so both refuse the same things.
    """
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if delegate is None:
        if date_from is not None or date_until is not None:
            add("delegate", _("Choose the delegate for these dates."))
        return errors
    if delegate.pk == staff.pk:
        add("delegate", _("A staff member cannot be their own delegate."))
    elif delegate.campus_id != staff.campus_id:
        add("delegate", _("Choose a delegate of your own campus: only they can act on its requests."))
    elif not delegate.user.is_active:
        add("delegate", _("This person's account is not active; choose someone who can log in."))
    if date_from is None:
        add("delegate_from", _("Give the first day the delegate covers."))
    if date_until is None:
        add("delegate_until", _("Give the dates the delegate covers."))
    elif date_from is not None and date_from > date_until:
        add("delegate_until", _("The end date is before the start date."))
    return errors


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
    errors = staff_delegate_errors(staff=staff, delegate=delegate, date_from=date_from, date_until=date_until)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked = Staff.objects.select_for_update(of=("self",)).order_by().get(pk=staff.pk)
        locked.delegate = delegate
        locked.delegate_from = date_from if delegate is not None else None
        locked.delegate_until = date_until if delegate is not None else None
        if actor is not None:
            locked._history_user = actor
        locked._change_reason = "delegate set" if delegate is not None else "delegate cleared"
        locked.save(update_fields=["delegate", "delegate_from", "delegate_until"])
    staff.delegate = locked.delegate
    staff.delegate_from = locked.delegate_from
    staff.delegate_until = locked.delegate_until
    return locked
