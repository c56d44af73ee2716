"""Customer service's refund desk on the ticket page: the linked request approved directly within
the campus's limit, and a request filed for the student with her consent, linked to the ticket."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from refunds.models import RefundRequest, RefundStatus
from refunds.services import refund_submit
from servicedesk import services
from servicedesk.models import MessageKind, TicketCategory
from tests.refunds.helpers import set_settings

pytestmark = pytest.mark.django_db
LOCAL = "%Y-%m-%dT%H:%M"


def page(ticket) -> str:
    return reverse("admin:servicedesk_ticket_change", args=[ticket.pk])


def dispute(student, refund=None, order=None):
    return services.ticket_open(
        student=student,
        category=TicketCategory.REFUND_DISPUTE,
        subject="退费",
        description="想尽快退费",
        refund_request_id=refund.pk if refund else None,
        order_id=order.pk if order else None,
    )


def test_customer_service_approves_the_tickets_small_refund_from_the_ticket(client, agent, student, order, campus):
    set_settings(campus, service_limit="5000.00")
    refund = refund_submit(student=student, order_no=order.order_no, reason="time_conflict", details="时间冲突")
    ticket = dispute(student, refund)
    client.force_login(agent.user)
    html = client.get(page(ticket)).content.decode()
    url = reverse("admin:refunds_refundrequest_decide", args=[refund.pk, "approve_directly"])
    assert 'id="approve-directly"' in html and url in html
    assert client.post(url, {"comment": "工单内客服直批"}).status_code == 302
    refund.refresh_from_db()
    assert refund.status == RefundStatus.APPROVED


def test_above_the_limit_the_page_says_it_takes_the_normal_route(client, agent, student, order, campus):
    refund = refund_submit(student=student, order_no=order.order_no, reason="time_conflict", details="时间冲突")
    set_settings(campus, service_limit="0.01")
    ticket = dispute(student, refund)
    client.force_login(agent.user)
    html = client.get(page(ticket)).content.decode()
    assert 'id="approve-directly"' not in html and "¥0.01" in html


def test_a_supervisor_on_the_ticket_gets_no_desk_button_nor_form(client, supervisor, agent, student, order, campus):
    set_settings(campus, service_limit="5000.00")
    refund = refund_submit(student=student, order_no=order.order_no, reason="time_conflict", details="时间冲突")
    ticket = dispute(student, refund)
    client.force_login(supervisor.user)
    response = client.get(page(ticket))
    assert 'id="approve-directly"' not in response.content.decode()
    assert "file_refund" not in response.context["forms"]


def test_customer_service_files_a_refund_for_the_student_from_the_ticket(client, agent, student, order, shipped_data):
    ticket = dispute(student, order=order)
    client.force_login(agent.user)
    assert "file_refund" in client.get(page(ticket)).context["forms"]
    consent = timezone.localtime() - datetime.timedelta(minutes=5)
    response = client.post(
        reverse("admin:servicedesk_ticket_file_refund", args=[ticket.pk]),
        {
            "order": order.pk,
            "reason": "time_conflict",
            "details": "学员电话中说明工作调动",
            "consent_channel": "phone",
            "consent_at": consent.strftime(LOCAL),
            "consent_note": "录音 0412",
        },
    )
    assert response.status_code == 302
    refund = RefundRequest.objects.get(order=order)
    ticket.refresh_from_db()
    assert ticket.refund_request == refund
    assert (refund.filed_by, refund.consent_channel, refund.consent_note) == (agent.user, "phone", "录音 0412")
    note = ticket.messages.get(kind=MessageKind.NOTE)
    assert refund.request_no in note.body


def test_without_her_consent_nothing_is_filed(client, agent, student, order):
    ticket = dispute(student, order=order)
    client.force_login(agent.user)
    response = client.post(
        reverse("admin:servicedesk_ticket_file_refund", args=[ticket.pk]),
        {
            "order": order.pk,
            "reason": "time_conflict",
            "details": "学员电话中说明工作调动",
            "consent_channel": "phone",
            "consent_at": (timezone.localtime() - datetime.timedelta(days=30)).strftime(LOCAL),
        },
    )
    assert response.status_code == 200
    assert not RefundRequest.objects.exists()
    assert not ticket.messages.filter(kind=MessageKind.NOTE).exists()
