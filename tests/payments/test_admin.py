"""Payouts in the admin: finance of the campus sees and acts; everyone else is turned away."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from finance.models import Voucher
from orders.models import PaymentChannel
from payments import services
from payments.models import Payout, PayoutStatus
from refunds.models import RefundStatus
from schoolops.models import StaffRole
from tests import factories
from tests.refunds.helpers import PDF

from .helpers import approved_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def card_refund(student, homeroom, campus):
    return approved_request(student=student, homeroom=homeroom, campus=campus, channel=PaymentChannel.CARD)


@pytest.fixture
def other_campus_finance(other_campus):
    return factories.make_staff(role=StaffRole.FINANCE, campus=other_campus)


def _url(name: str, *args) -> str:
    return reverse(f"admin:payments_payout_{name}", args=args)


def _transfer_form(**overrides) -> dict:
    return {"bank_reference": "BK-778899", "transferred_on": timezone.localdate().isoformat(), **overrides}


def test_finance_sees_the_payout_and_the_button_to_record_the_transfer(client, card_refund, finance):
    _request, payout = card_refund
    client.force_login(finance.user)
    assert payout.payout_no in client.get(_url("changelist")).content.decode()
    page = client.get(_url("change", payout.pk)).content.decode()
    assert _url("record_transfer", payout.pk) in page


def test_finance_records_a_transfer_with_its_slip(client, card_refund, finance):
    request, payout = card_refund
    client.force_login(finance.user)
    slip = SimpleUploadedFile("slip.pdf", PDF, content_type="application/pdf")
    response = client.post(_url("record_transfer", payout.pk), {**_transfer_form(), "scan": slip})
    assert response.status_code == 302
    payout.refresh_from_db()
    request.refresh_from_db()
    assert payout.status == PayoutStatus.SUCCEEDED
    assert request.status == RefundStatus.REFUNDED
    assert Voucher.objects.filter(payout=payout).count() == 1


def test_a_slip_that_is_not_a_pdf_or_image_is_refused_and_nothing_is_recorded(client, card_refund, finance):
    request, payout = card_refund
    client.force_login(finance.user)
    fake = SimpleUploadedFile("slip.pdf", b"MZ\x90\x00 not a pdf", content_type="application/pdf")
    response = client.post(_url("record_transfer", payout.pk), {**_transfer_form(), "scan": fake})
    assert response.status_code == 200
    assert response.context["form"].errors["scan"]
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.QUEUED
    assert not Voucher.objects.exists()


@pytest.mark.parametrize("who", ["homeroom", "supervisor", "operations"])
def test_staff_without_the_permission_cannot_record_a_transfer(client, card_refund, request, who):
    _request, payout = card_refund
    staff = request.getfixturevalue(who)
    client.force_login(staff.user)
    response = client.post(_url("record_transfer", payout.pk), _transfer_form())
    assert response.status_code in (403, 404)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.QUEUED


@pytest.mark.parametrize("view", ["change", "record_transfer", "send_again", "history"])
def test_finance_of_another_campus_gets_404_everywhere(client, card_refund, other_campus_finance, view):
    _request, payout = card_refund
    client.force_login(other_campus_finance.user)
    assert client.get(_url(view, payout.pk)).status_code == 404
    assert client.post(_url(view, payout.pk), _transfer_form()).status_code in (403, 404)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.QUEUED


def test_the_outsider_sees_nothing(client, card_refund, outsider):
    _request, payout = card_refund
    client.force_login(outsider)
    assert client.get(_url("changelist")).status_code in (302, 403)
    assert client.post(_url("record_transfer", payout.pk), _transfer_form()).status_code in (302, 403, 404)


def test_finance_sends_a_refused_payout_again_under_a_new_number(client, student, homeroom, campus, finance):
    request, payout = approved_request(student=student, homeroom=homeroom, campus=campus)
    services._fail(payout.pk, code="NOTENOUGH", message="基本账户余额不足")
    request.refresh_from_db()
    assert request.status == RefundStatus.PAYOUT_FAILED
    client.force_login(finance.user)
    assert _url("send_again", payout.pk) in client.get(_url("change", payout.pk)).content.decode()

    response = client.post(_url("send_again", payout.pk))

    assert response.status_code == 302
    request.refresh_from_db()
    fresh = request.payouts.exclude(pk=payout.pk).get()
    assert fresh.payout_no != payout.payout_no
    assert fresh.status == PayoutStatus.QUEUED
    assert fresh.amount == payout.amount
    assert request.status == RefundStatus.PAYING
    # A second click finds nothing failed to send again.
    client.post(_url("send_again", payout.pk))
    assert Payout.objects.filter(request=request).count() == 2


def test_vouchers_and_the_calendar_open_for_finance(client, card_refund, finance):
    request, _payout = card_refund
    services.payout_record_transfer(
        request_id=request.pk, actor=finance.user, bank_reference="BK1", transferred_on=timezone.localdate()
    )
    client.force_login(finance.user)
    voucher = Voucher.objects.get()
    assert voucher.code in client.get(reverse("admin:finance_voucher_changelist")).content.decode()
    assert client.get(reverse("admin:finance_voucher_change", args=[voucher.pk])).status_code == 200
    assert client.get(reverse("admin:payments_calendarday_changelist")).status_code == 200


def test_the_request_page_lists_its_payouts_with_a_link_for_finance(client, card_refund, finance, homeroom):
    request, payout = card_refund
    page_url = reverse("admin:refunds_refundrequest_change", args=[request.pk])
    client.force_login(finance.user)
    page = client.get(page_url).content.decode()
    assert payout.payout_no in page
    assert _url("change", payout.pk) in page
    client.force_login(homeroom.user)  # sees the payout, has no payouts admin to link to
    page = client.get(page_url).content.decode()
    assert payout.payout_no in page
    assert _url("change", payout.pk) not in page


def test_finance_closes_a_failed_refund_without_payment_with_a_reason(client, student, homeroom, campus, finance):
    request, payout = approved_request(student=student, homeroom=homeroom, campus=campus)
    services._fail(payout.pk, code="exceeds_order", message="订单已无可退金额")
    client.force_login(finance.user)
    assert _url("close_unpaid", payout.pk) in client.get(_url("change", payout.pk)).content.decode()

    empty = client.post(_url("close_unpaid", payout.pk), {"reason": ""})
    assert empty.status_code == 200  # the form says what is missing; nothing changed
    request.refresh_from_db()
    assert request.status == RefundStatus.PAYOUT_FAILED

    response = client.post(_url("close_unpaid", payout.pk), {"reason": "该订单款项已由另一申请全额退回。"})

    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == RefundStatus.CLOSED
    assert request.transitions.get(name="close").comment == "该订单款项已由另一申请全额退回。"


def test_staff_without_the_permission_cannot_close_a_refund_unpaid(client, student, homeroom, campus):
    request, payout = approved_request(student=student, homeroom=homeroom, campus=campus)
    services._fail(payout.pk, code="NOTENOUGH", message="余额不足")
    client.force_login(homeroom.user)
    assert client.post(_url("close_unpaid", payout.pk), {"reason": "x"}).status_code in (403, 404)
    request.refresh_from_db()
    assert request.status == RefundStatus.PAYOUT_FAILED


def test_the_manual_check_filter_lists_payouts_finance_must_check(client, student, homeroom, campus, finance):
    _request, waiting = approved_request(student=student, homeroom=homeroom, campus=campus)
    other = factories.make_student(campus=campus)
    _request, flagged = approved_request(student=other, homeroom=homeroom, campus=campus)
    Payout.objects.filter(pk=flagged.pk).update(status=PayoutStatus.UNKNOWN, needs_check_since=timezone.now())
    client.force_login(finance.user)

    page = client.get(_url("changelist") + "?needs_check=yes").content.decode()

    assert flagged.payout_no in page and waiting.payout_no not in page
