"""How a ticket (工单) reads to the student: where it is in her words, the four steps of the SOP
as she may see them, and what reply time she can count on before she asks.

She sees when each step was reached, never what the staff wrote for themselves: the finding and
the policy point of the assessment, internal notes and escalations stay in the admin. The
functions only read what ``servicedesk.selectors.ticket_of_student`` loaded (no query).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _

from servicedesk.models import DeskSettings, Ticket, TicketStatus
from servicedesk.notices import duration_words

from .timeline import CURRENT, DONE, UPCOMING, TimelineEntry

# Where a ticket is, as she reads it (the staff's "waiting for the student" is her turn).
WAITING_FOR_US = "waiting_for_us"
REPLIED = "replied"
YOUR_TURN = "your_turn"
RESOLVED = "resolved"
CLOSED = "closed"


@dataclass(frozen=True)
class TicketState:
    key: str
    label: str

    @property
    def reply_waiting(self) -> bool:
        """A reply of ours is there that she has not answered yet."""
        return self.key in (REPLIED, YOUR_TURN)


def ticket_state(ticket: Ticket) -> TicketState:
    if ticket.status == TicketStatus.ARCHIVED:
        return TicketState(CLOSED, _("Closed"))
    if ticket.status == TicketStatus.RESOLVED:
        return TicketState(RESOLVED, _("Resolved"))
    if ticket.status == TicketStatus.WAITING:
        return TicketState(YOUR_TURN, _("Waiting for your answer"))
    if ticket.awaiting_reply_since is None:
        return TicketState(REPLIED, _("We replied"))
    return TicketState(WAITING_FOR_US, _("Waiting for our reply"))


def reply_owed(ticket: Ticket) -> bool:
    """Her words wait for our answer, so the page says by when it comes."""
    return ticket.status == TicketStatus.OPEN and ticket.response_due_at is not None


def ticket_steps(ticket: Ticket) -> list[TimelineEntry]:
    """Received → looked into → solved → reviewed and closed, each done, current or upcoming.

    A step reached is done; a step staff went past without recording it (resolving without an
    assessment) is done too, without a date. A reopened ticket is back before "resolved".
    """
    steps = [
        (_("Received"), "", ticket.created_at),
        (_("Looked into"), _("We check the facts and the rules that apply to you."), ticket.assessed_at),
        (_("Solved"), _("Next we give you a solution."), ticket.resolved_at),
        (_("Reviewed and closed"), _("We review how it went and close the ticket."), ticket.archived_at),
    ]
    reached = max(index for index, (_title, _detail, at) in enumerate(steps) if index == 0 or at is not None)
    entries = []
    for index, (title, detail, at) in enumerate(steps):
        if index <= reached:
            entries.append(TimelineEntry(title=title, state=DONE, at=at))
        elif index == reached + 1:
            entries.append(TimelineEntry(title=title, state=CURRENT, detail=detail))
        else:
            entries.append(TimelineEntry(title=title, state=UPCOMING))
    return entries


@dataclass(frozen=True)
class DeskPromise:
    """What she can expect before she opens a ticket, from her campus's desk settings."""

    reply: str
    hours: str


def desk_promise(settings: DeskSettings) -> DeskPromise:
    values = {
        "within": duration_words(settings.response_minutes),
        "urgent": duration_words(settings.urgent_response_minutes),
        "opens": f"{settings.opens_at:%H:%M}",
        "closes": f"{settings.closes_at:%H:%M}",
    }
    if settings.open_on_weekends:
        hours = _("Our service hours: every day %(opens)s–%(closes)s, closed on public holidays.")
    else:
        hours = _(
            "Our service hours: Monday to Friday %(opens)s–%(closes)s, closed on public holidays, "
            "open on make-up working days."
        )
    return DeskPromise(
        reply=_("We reply within %(within)s of our service hours; urgent questions within %(urgent)s.") % values,
        hours=hours % values,
    )
