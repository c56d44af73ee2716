"""Bank-card and offline orders: finance records the transfer, and the refund is complete."""

import datetime
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from finance.models import Voucher
from orders.models import OrderStatus, PaymentChannel
from payments.models import ArrivalKind, PayoutStatus
from payments.services import PayoutError, payout_record_transfer
from refunds.models import RefundEvent, RefundStatus, RefundTransition
from tests.refunds.helpers import PDF

from .helpers import approved_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def card_refund(student, homeroom, campus):
    return approved_request(student=student, homeroom=homeroom, campus=campus, channel=PaymentChannel.CARD)


def test_a_card_order_waits_for_finance_and_is_never_sent_to_a_gateway(card_refund, django_capture_on_commit_callbacks):
    request, payout = card_refund
    assert payout.status == PayoutStatus.QUEUED
    assert payout.channel == PaymentChannel.CARD
    assert payout.amount == request.approved_amount
    assert request.status == RefundStatus.APPROVED


def test_recording_the_transfer_completes_the_refund(card_refund, finance):
    request, payout = card_refund
    today = timezone.localdate()
    scan = SimpleUploadedFile("回单.pdf", PDF, content_type="application/pdf")

    done = payout_record_transfer(
        request_id=request.pk, actor=finance.user, bank_reference="BK20261202001", transferred_on=today, scan=scan
    )

    assert done.pk == payout.pk
    done.refresh_from_db()
    request.refresh_from_db()
    order = request.order
    assert done.status == PayoutStatus.SUCCEEDED
    assert done.bank_reference == "BK20261202001"
    assert done.recorded_by == finance.user
    assert done.transfer_scan.name.startswith("transfers/")
    assert done.arrival_kind == ArrivalKind.BANK_TRANSFER
    assert done.arrival_earliest > today
    assert request.status == RefundStatus.REFUNDED
    assert list(RefundTransition.objects.filter(request=request).values_list("name", flat=True))[-2:] == [
        "start_payout",
        "confirm_payout",
    ]
    assert order.refunded_total == request.approved_amount
    assert order.status == OrderStatus.PARTIALLY_REFUNDED
    voucher = Voucher.objects.get(payout=done)
    lines = list(voucher.lines.all())
    assert sum(line.debit for line in lines) == sum(line.credit for line in lines) == done.amount
    assert lines[1].account_code == "1002"
    event = RefundEvent.objects.get(request=request, kind="payout_succeeded")
    assert Decimal(event.payload["amount"]) == done.amount


@pytest.mark.parametrize(
    ("reference", "days_ahead", "code"),
    [("  ", 0, "reference"), ("BK1", 1, "date")],
)
def test_a_bad_transfer_record_is_refused_and_changes_nothing(card_refund, finance, reference, days_ahead, code):
    request, payout = card_refund
    with pytest.raises(PayoutError) as refused:
        payout_record_transfer(
            request_id=request.pk,
            actor=finance.user,
            bank_reference=reference,
            transferred_on=timezone.localdate() + datetime.timedelta(days=days_ahead),
        )
    assert refused.value.code == code
    payout.refresh_from_db()
    request.refresh_from_db()
    assert payout.status == PayoutStatus.QUEUED
    assert request.status == RefundStatus.APPROVED
    assert not Voucher.objects.exists()


def test_a_transfer_cannot_be_recorded_twice(card_refund, finance):
    request, _payout = card_refund
    payout_record_transfer(
        request_id=request.pk, actor=finance.user, bank_reference="BK1", transferred_on=timezone.localdate()
    )
    with pytest.raises(PayoutError) as refused:
        payout_record_transfer(
            request_id=request.pk, actor=finance.user, bank_reference="BK2", transferred_on=timezone.localdate()
        )
    assert refused.value.code == "state"
    assert Voucher.objects.count() == 1
    request.order.refresh_from_db()
    assert request.order.refunded_total == request.approved_amount


def test_an_online_payout_in_flight_cannot_be_recorded_as_a_transfer(student, homeroom, campus, finance):
    request, payout = approved_request(student=student, homeroom=homeroom, campus=campus)
    with pytest.raises(PayoutError) as refused:
        payout_record_transfer(
            request_id=request.pk, actor=finance.user, bank_reference="BK1", transferred_on=timezone.localdate()
        )
    assert refused.value.code == "in_progress"
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.QUEUED


def test_the_student_sees_when_the_transferred_money_arrives(client, card_refund, finance, student):
    request, _payout = card_refund
    payout_record_transfer(
        request_id=request.pk, actor=finance.user, bank_reference="BK1", transferred_on=timezone.localdate()
    )
    done = request.payouts.get()
    client.force_login(student.user)
    page = client.get(reverse("portal:request", args=[request.request_no])).content.decode()
    assert f"{done.arrival_earliest:%Y-%m-%d}" in page
    assert f"{done.arrival_latest:%Y-%m-%d}" in page
