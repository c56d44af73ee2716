"""The rules of an out-of-office delegation, pure: they read the objects given, never the database.

``delegate_dates_errors`` is what any row must satisfy (the model's ``clean`` and the database
constraints say the same); ``delegate_errors`` adds who may be chosen (another active member of
the same campus) for the "my delegate" page, the staff admin and ``staff_delegate_set``. Each
message is written once, here.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

from django.utils.translation import gettext as _

if TYPE_CHECKING:
    from .models import Staff

Errors = dict[str, list[str]]


def delegate_dates_errors(
    *,
    staff_pk: int | None,
    delegate_pk: int | None,
    date_from: datetime.date | None,
    date_until: datetime.date | None,
) -> Errors:
    """What is wrong with the shape of a delegation, keyed by the ``Staff`` field (empty: nothing)."""
    errors: Errors = {}
    if delegate_pk is None:
        if date_from is not None or date_until is not None:
            errors["delegate"] = [_("Choose the delegate for these dates.")]
        return errors
    if staff_pk is not None and delegate_pk == staff_pk:
        errors["delegate"] = [_("A staff member cannot be their own delegate.")]
    if date_from is None:
        errors["delegate_from"] = [_("Give the first day the delegate covers.")]
    if date_until is None:
        errors["delegate_until"] = [_("Give the dates the delegate covers.")]
    elif date_from is not None and date_from > date_until:
        errors["delegate_until"] = [_("The end date is before the start date.")]
    return errors


def delegate_errors(
    *,
    staff: Staff,
    delegate: Staff | None,
    date_from: datetime.date | None,
    date_until: datetime.date | None,
) -> Errors:
    """The shape rules, and who may be chosen: another active staff member of the same campus
    (only they see and act on the absent person's queue)."""
    errors = delegate_dates_errors(
        staff_pk=staff.pk,
        delegate_pk=delegate.pk if delegate is not None else None,
        date_from=date_from,
        date_until=date_until,
    )
    if delegate is not None and "delegate" not in errors:
        if delegate.campus_id != staff.campus_id:
            errors["delegate"] = [_("Choose a delegate of your own campus: only they can act on its requests.")]
        elif not delegate.user.is_active:
            errors["delegate"] = [_("This person's account is not active; choose someone who can log in.")]
    return errors
