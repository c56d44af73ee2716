"""Satisfaction: the student rates a resolved ticket or a finished refund (1–5 and a comment,
revisable), tied to the staff member who served her and the campus; the refund's end asks her to.

Who is rated: a ticket's owner (else whoever resolved it); a refund's last approver (else the
homeroom teacher of the order).
"""

from __future__ import annotations

import datetime

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from notifications.services.outbox import notify
from notifications.services.recipients import recipient_for_user, school_contact, site_url
from refunds.events import refund_event_writer
from refunds.models import RefundEvent, RefundEventKind, RefundRequest, RefundStatus, StepDecision
from schoolops.history import history_note
from schoolops.models import Staff
from students.models import Student

from .events import RATING_ASKED
from .models import Rating, RatingSubject, Ticket, TicketStatus
from .services import TicketError

MAX_COMMENT = 1000
RATEABLE_TICKETS = (TicketStatus.RESOLVED, TicketStatus.ARCHIVED)
RATEABLE_REFUNDS = (RefundStatus.REFUNDED, RefundStatus.CLOSED, RefundStatus.REJECTED)
ASK_ON = (RefundEventKind.PAYOUT_SUCCEEDED, RefundEventKind.CLOSED)


def rating_for_ticket(
    *, student: Student, ticket_no: str, score: int | str, comment: str = "", at: datetime.datetime | None = None
) -> Rating:
    """She rates her resolved (or archived) ticket; rating again revises it."""
    value, text = _checked(score, comment)
    with transaction.atomic():
        ticket = (
            Ticket.objects.select_for_update(of=("self",))
            .select_related("owner", "resolved_by__staff")
            .filter(student=student, ticket_no=ticket_no)
            .first()
        )
        if ticket is None:
            raise TicketError(_("No such ticket."), code="not_found")
        if ticket.status not in RATEABLE_TICKETS:
            raise TicketError(_("You can rate the ticket once it is resolved."), code="state")
        staff = ticket.owner or getattr(ticket.resolved_by, "staff", None)
        return _save(
            Rating.objects.filter(ticket=ticket).first(),
            student=student,
            campus_id=ticket.campus_id,
            staff=staff,
            subject=RatingSubject.TICKET,
            score=value,
            comment=text,
            at=at or timezone.now(),
            ticket=ticket,
        )


def rating_for_refund(
    *, student: Student, request_no: str, score: int | str, comment: str = "", at: datetime.datetime | None = None
) -> Rating:
    """She rates her finished refund request (refunded, closed or rejected); again revises it."""
    value, text = _checked(score, comment)
    with transaction.atomic():
        request = (
            RefundRequest.objects.select_for_update(of=("self",))
            .select_related("order__enrollment__homeroom_teacher")
            .filter(student=student, request_no=request_no)
            .first()
        )
        if request is None:
            raise TicketError(_("No such refund request."), code="not_found")
        if request.status not in RATEABLE_REFUNDS:
            raise TicketError(_("You can rate the refund once it is finished."), code="state")
        return _save(
            Rating.objects.filter(refund_request=request).first(),
            student=student,
            campus_id=request.campus_id,
            staff=_refund_staff(request),
            subject=RatingSubject.REFUND,
            score=value,
            comment=text,
            at=at or timezone.now(),
            refund_request=request,
        )


def _refund_staff(request: RefundRequest) -> Staff | None:
    step = request.steps.filter(decision=StepDecision.APPROVED).exclude(decided_by=None).order_by("-decided_at").first()
    if step is None:
        step = request.steps.exclude(decided_by=None).order_by("-decided_at").first()
    if step is not None:
        return step.decided_by
    enrollment = getattr(request.order, "enrollment", None)
    return enrollment.homeroom_teacher if enrollment is not None else None


def _save(rating: Rating | None, *, at: datetime.datetime, **values) -> Rating:
    if rating is None:
        rating = Rating(created_at=at, **values)
    else:
        rating.score, rating.comment = values["score"], values["comment"]
    rating.updated_at = at
    history_note(rating, user=values["student"].user, at=at)
    rating.save()
    return rating


def _checked(score: int | str, comment: str) -> tuple[int, str]:
    try:
        value = int(score)
    except (TypeError, ValueError):
        value = 0
    if not 1 <= value <= 5:
        raise TicketError(_("Choose from 1 to 5 stars."), code="score")
    text = (comment or "").strip()
    if len(text) > MAX_COMMENT:
        raise TicketError(
            _("At most %(limit)d characters; this is %(count)d.") % {"limit": MAX_COMMENT, "count": len(text)},
            code="comment",
        )
    return value, text


@refund_event_writer(kinds=ASK_ON)
def ask_for_refund_rating(event: RefundEvent) -> None:
    """Writer, in the event's transaction: when a refund is finished, ask the student to rate it."""
    if event.kind not in ASK_ON:
        return
    request = RefundRequest.objects.select_related("student__user").get(pk=event.request_id)
    student = request.student

    def context() -> dict[str, str]:
        return {
            "about": _("your refund request %(no)s") % {"no": request.request_no},
            "link": site_url(reverse("portal:request", args=[request.request_no]) + "#rating"),
            "contact": school_contact(),
        }

    notify(
        key=f"rating-ask:refund:{request.pk}",
        event=RATING_ASKED,
        recipients=[recipient_for_user(student.user, openid=student.wechat_openid)],
        context=context,
        channels=("inbox", "email"),
        refund_request=request,
    )
