"""What a ticket's status allows staff to do: one rule, which the services check after taking
their lock and the ticket page reads to choose the forms it shows. Pure: no query."""

from __future__ import annotations

from django.utils.translation import gettext as _

from .models import ACTIVE_STATUSES, TicketStatus

REPLY = "reply"  # a reply to the student or an internal note
ASSIGN = "assign"
PRIORITY = "priority"
ASSESS = "assess"
RESOLVE = "resolve"
ARCHIVE = "archive"
FILE_REFUND = "file_refund"  # the refund desk: a refund request filed for the student
STAFF_ACTIONS = (REPLY, ASSIGN, PRIORITY, ASSESS, RESOLVE, ARCHIVE, FILE_REFUND)


def state_refusal(status: str, action: str) -> str | None:
    """Why a ticket in ``status`` refuses ``action`` (one of ``STAFF_ACTIONS``), or None."""
    if action not in STAFF_ACTIONS:
        raise ValueError(f"Unknown ticket action {action!r}")
    if action in (REPLY, ASSIGN):
        return _("This ticket is archived.") if status == TicketStatus.ARCHIVED else None
    if action == ARCHIVE:
        return None if status == TicketStatus.RESOLVED else _("Only a resolved ticket can be archived.")
    if status in ACTIVE_STATUSES:
        return None
    if action == PRIORITY:
        return _("Only an open ticket's priority can change.")
    if action == ASSESS:
        return _("Only an open ticket can be assessed.")
    if action == FILE_REFUND:
        return _("Only an open ticket can file a refund request.")
    return _("This ticket is not open.")  # RESOLVE
