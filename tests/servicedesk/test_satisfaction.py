"""Satisfaction: the student rates a resolved ticket or a finished refund, tied to the staff
member and the campus; a finished refund asks her to."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from notifications.models import Notification
from refunds.events import refund_event_record
from refunds.models import RefundEventKind, RefundStatus
from servicedesk import services
from servicedesk.models import Rating, RatingSubject, SolutionKind, TicketCategory
from servicedesk.satisfaction import rating_for_refund, rating_for_ticket
from servicedesk.services import TicketError
from tests.refunds.helpers import approved_refund

pytestmark = pytest.mark.django_db


@pytest.fixture
def ticket(student, agent):
    return services.ticket_open(
        student=student, category=TicketCategory.QUESTION, subject="发票", description="怎么开发票？"
    )


def resolve(ticket, agent):
    services.ticket_resolve(actor=agent.user, ticket_id=ticket.pk, solution_kind=SolutionKind.ANSWER, solution="已开具")


def test_a_resolved_ticket_is_rated_for_its_owner_and_campus(student, agent, ticket):
    with pytest.raises(TicketError) as refused:
        rating_for_ticket(student=student, ticket_no=ticket.ticket_no, score=5)
    assert refused.value.code == "state"

    resolve(ticket, agent)
    rating = rating_for_ticket(student=student, ticket_no=ticket.ticket_no, score="4", comment="回复很快")
    assert (rating.subject, rating.ticket, rating.staff, rating.campus, rating.score, rating.comment) == (
        RatingSubject.TICKET,
        ticket,
        agent,
        ticket.campus,
        4,
        "回复很快",
    )

    revised = rating_for_ticket(student=student, ticket_no=ticket.ticket_no, score=2, comment="问题又出现了")
    assert revised.pk == rating.pk and Rating.objects.get().score == 2


@pytest.mark.parametrize("score", [0, 6, "", "five", None])
def test_a_score_is_one_to_five(student, agent, ticket, score):
    resolve(ticket, agent)
    with pytest.raises(TicketError) as refused:
        rating_for_ticket(student=student, ticket_no=ticket.ticket_no, score=score)
    assert refused.value.code == "score"
    assert not Rating.objects.exists()


def test_nobody_rates_someone_elses_ticket(other_student, agent, ticket):
    resolve(ticket, agent)
    with pytest.raises(TicketError) as refused:
        rating_for_ticket(student=other_student, ticket_no=ticket.ticket_no, score=1)
    assert refused.value.code == "not_found"


def test_a_finished_refund_is_rated_for_the_homeroom_teacher_when_nobody_decided(student, order, homeroom):
    request = approved_refund(order, at=timezone.now(), status=RefundStatus.APPROVED)
    with pytest.raises(TicketError) as refused:
        rating_for_refund(student=student, request_no=request.request_no, score=5)
    assert refused.value.code == "state"

    type(request).objects.filter(pk=request.pk).update(status=RefundStatus.REFUNDED)
    rating = rating_for_refund(student=student, request_no=request.request_no, score=5, comment="到账很快")
    assert (rating.subject, rating.refund_request, rating.staff, rating.campus_id) == (
        RatingSubject.REFUND,
        request,
        homeroom,
        request.campus_id,
    )


def test_the_database_keeps_one_subject_per_rating(student, agent, ticket, campus):
    with pytest.raises(IntegrityError), transaction.atomic():
        Rating.objects.create(student=student, campus=campus, subject=RatingSubject.REFUND, ticket=ticket, score=3)
    with pytest.raises(IntegrityError), transaction.atomic():
        Rating.objects.create(student=student, campus=campus, subject=RatingSubject.TICKET, ticket=ticket, score=9)


@pytest.mark.parametrize(
    ("kind", "asked"),
    [
        (RefundEventKind.PAYOUT_SUCCEEDED, True),
        (RefundEventKind.CLOSED, True),
        (RefundEventKind.APPROVED, False),
        (RefundEventKind.PAYOUT_FAILED, False),
    ],
)
def test_a_finished_refund_asks_the_student_to_rate_it(shipped_data, student, order, kind, asked):
    request = approved_refund(order, at=timezone.now(), status=RefundStatus.REFUNDED)
    refund_event_record(request=request, kind=kind, actor=None, at=timezone.now())
    rows = Notification.objects.filter(event="rating.asked", recipient=student.user)
    assert rows.exists() is asked
    if asked:
        inbox = rows.get(channel="inbox")
        assert f"/refunds/{request.request_no}/#rating" in inbox.body
        assert request.request_no in inbox.body
