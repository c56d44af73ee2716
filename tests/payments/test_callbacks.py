"""Gateway callbacks: only a verified notice that matches our payout changes anything.

The simulator builds the notices exactly as WeChat Pay and Alipay would; the tests post them
(or forgeries of them) to our endpoints with Django's test client.
"""

from __future__ import annotations

import pytest
import xmltodict
from django.urls import reverse

from finance.models import Voucher
from gatewaysim.protocol import parse_wechat_xml, wechat_decrypt_req_info, wechat_encrypt_req_info, wechat_xml
from orders.models import PaymentChannel
from payments import services
from payments.models import Payout, PayoutStatus, RejectedCallback
from refunds.models import RefundEvent, RefundRequest, RefundStatus

from .helpers import approved_request

pytestmark = pytest.mark.django_db

WECHAT_URL = reverse("payments:wechat-notify")
ALIPAY_URL = reverse("payments:alipay-notify")
WECHAT_OK = b"<return_code><![CDATA[SUCCESS]]></return_code>"
WECHAT_FAIL = b"<return_code><![CDATA[FAIL]]></return_code>"


@pytest.fixture
def sim(gateway_settings):
    gateway_settings.callbacks_enabled = False  # the tests deliver the notices themselves
    return gateway_settings


@pytest.fixture
def sent_wechat(sim, student, homeroom, campus) -> Payout:
    """A WeChat payout accepted by the gateway (the money moved there), waiting for its notice."""
    _request, payout = approved_request(student=student, homeroom=homeroom, campus=campus)
    assert services.payout_execute(payout_id=payout.pk) == services.Step.WAIT
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.SENT
    return payout


def _post_wechat(client, body: bytes):
    return client.post(WECHAT_URL, body, content_type="text/xml")


def _unchanged(payout: Payout) -> None:
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.SENT
    assert payout.request.status == RefundStatus.PAYING
    assert not Voucher.objects.exists()
    assert not RefundEvent.objects.filter(kind="payout_succeeded").exists()


def _with_inner(sim, body: bytes, **inner) -> bytes:
    """The same notice re-encrypted with the merchant's real key after changing inner fields."""
    api_key = sim.wechat_pay_settings()["API_KEY"]
    outer = parse_wechat_xml(body)
    fields = dict(xmltodict.parse(wechat_decrypt_req_info(outer["req_info"], api_key))["root"])
    fields.update(inner)
    outer["req_info"] = wechat_encrypt_req_info(wechat_xml(fields, root="root"), api_key)
    return wechat_xml(outer).encode()


def test_a_genuine_wechat_notice_completes_the_refund(client, sim, sent_wechat):
    response = _post_wechat(client, sim.wechat_notification(sent_wechat.payout_no))
    assert response.status_code == 200
    assert WECHAT_OK in response.content
    sent_wechat.refresh_from_db()
    assert sent_wechat.status == PayoutStatus.SUCCEEDED
    assert sent_wechat.request.status == RefundStatus.REFUNDED
    assert Voucher.objects.filter(payout=sent_wechat).count() == 1


def test_a_replayed_notice_is_acknowledged_and_changes_nothing_more(client, sim, sent_wechat):
    notice = sim.wechat_notification(sent_wechat.payout_no)
    _post_wechat(client, notice)
    response = _post_wechat(client, notice)
    assert WECHAT_OK in response.content  # so WeChat stops sending it
    assert Voucher.objects.count() == 1
    assert RefundEvent.objects.filter(kind="payout_succeeded").count() == 1
    sent_wechat.order.refresh_from_db()
    assert sent_wechat.order.refunded_total == sent_wechat.amount


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda sim, no: b"<xml><return_code>SUCCESS</return_code></xml>", id="no-req_info"),
        pytest.param(lambda sim, no: b"not xml at all", id="garbage"),
        pytest.param(
            lambda sim, no: sim.wechat_notification(no).replace(b"<req_info><![CDATA[", b"<req_info><![CDATA[AAAA"),
            id="tampered-ciphertext",
        ),
        pytest.param(lambda sim, no: sim.wechat_notification(no, mch_id="1900000001"), id="other-merchant"),
        pytest.param(lambda sim, no: sim.wechat_notification(no, appid="wx0000000000000000"), id="other-appid"),
        pytest.param(
            lambda sim, no: _with_inner(sim, sim.wechat_notification(no), refund_fee="1"), id="mismatched-amount"
        ),
        pytest.param(
            lambda sim, no: _with_inner(sim, sim.wechat_notification(no), out_refund_no="PO20260101AAAAAAAAAAAA"),
            id="unknown-number",
        ),
    ],
)
def test_a_forged_tampered_or_mismatched_wechat_notice_changes_nothing_and_is_kept(client, sim, sent_wechat, forge):
    response = _post_wechat(client, forge(sim, sent_wechat.payout_no))
    assert response.status_code == 200
    assert WECHAT_FAIL in response.content
    _unchanged(sent_wechat)
    refused = RejectedCallback.objects.get()
    assert refused.channel == PaymentChannel.WECHAT
    assert refused.reason


def test_a_notice_in_a_merchant_key_we_do_not_hold_is_refused(client, sim, sent_wechat, settings):
    settings.WECHAT_PAY = {**settings.WECHAT_PAY, "API_KEY": "0" * 32}
    response = _post_wechat(client, sim.wechat_notification(sent_wechat.payout_no))
    assert WECHAT_FAIL in response.content
    settings.WECHAT_PAY = sim.wechat_pay_settings()
    _unchanged(sent_wechat)


def test_a_closed_notice_after_success_does_not_undo_the_refund(client, sim, sent_wechat):
    _post_wechat(client, sim.wechat_notification(sent_wechat.payout_no))
    late = _with_inner(sim, sim.wechat_notification(sent_wechat.payout_no), refund_status="REFUNDCLOSE")
    response = _post_wechat(client, late)
    assert WECHAT_OK in response.content
    sent_wechat.refresh_from_db()
    assert sent_wechat.status == PayoutStatus.SUCCEEDED
    assert sent_wechat.request.status == RefundStatus.REFUNDED
    assert not RefundEvent.objects.filter(kind="payout_failed").exists()


def test_a_notice_for_a_payout_never_sent_is_refused(client, sim, student, homeroom, campus, other_student):
    """Out of order: the gateway cannot have news of a payout we have not sent."""
    sent = approved_request(student=student, homeroom=homeroom, campus=campus)[1]
    services.payout_execute(payout_id=sent.pk)
    queued = approved_request(student=other_student, homeroom=homeroom, campus=campus)[1]
    notice = _with_inner(sim, sim.wechat_notification(sent.payout_no), out_refund_no=queued.payout_no)
    notice = _with_inner(sim, notice, refund_fee=str(int(queued.amount * 100)))

    response = _post_wechat(client, notice)

    assert WECHAT_FAIL in response.content
    queued.refresh_from_db()
    assert queued.status == PayoutStatus.QUEUED
    assert RejectedCallback.objects.filter(payout_no=queued.payout_no).exists()


# --- Alipay -----------------------------------------------------------------------------------


@pytest.fixture
def unknown_alipay(sim, student, homeroom, campus) -> Payout:
    """An Alipay payout whose answer was lost after the money moved: the notice tells."""
    sim.behave("alipay", "crash_after_execute", times=1)
    _request, payout = approved_request(student=student, homeroom=homeroom, campus=campus, channel="alipay")
    assert services.payout_execute(payout_id=payout.pk) == services.Step.RETRY
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.UNKNOWN
    return payout


def test_a_genuine_alipay_notice_is_confirmed_by_a_query_and_completes_the_refund(client, sim, unknown_alipay):
    response = client.post(ALIPAY_URL, sim.alipay_notification(unknown_alipay.payout_no))
    assert response.content == b"success"
    unknown_alipay.refresh_from_db()
    assert unknown_alipay.status == PayoutStatus.SUCCEEDED
    assert unknown_alipay.request.status == RefundStatus.REFUNDED
    assert sim.refunds_executed()[unknown_alipay.payout_no] == 1


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(
            lambda sim, no: {**sim.alipay_notification(no), "refund_fee": "9999.00"}, id="tampered-after-signing"
        ),
        pytest.param(lambda sim, no: {**sim.alipay_notification(no), "sign": "Zm9yZ2Vk"}, id="forged-signature"),
        pytest.param(
            lambda sim, no: {k: v for k, v in sim.alipay_notification(no).items() if k != "sign"}, id="unsigned"
        ),
        pytest.param(lambda sim, no: sim.alipay_notification(no, app_id="2021000000000999"), id="other-app"),
    ],
)
def test_a_forged_or_tampered_alipay_notice_changes_nothing(client, sim, unknown_alipay, forge):
    response = client.post(ALIPAY_URL, forge(sim, unknown_alipay.payout_no))
    assert response.content != b"success"
    unknown_alipay.refresh_from_db()
    assert unknown_alipay.status == PayoutStatus.UNKNOWN
    assert not Voucher.objects.exists()
    assert RejectedCallback.objects.filter(channel=PaymentChannel.ALIPAY).count() == 1


def test_callback_endpoints_answer_only_post(client):
    assert client.get(WECHAT_URL).status_code == 405
    assert client.get(ALIPAY_URL).status_code == 405


def test_a_change_notice_raises_the_payout_to_finance_instead_of_failing_it(client, sim, sent_wechat):
    # WeChat's CHANGE: the card refused the money; it is finished at WeChat under the same number.
    notice = _with_inner(sim, sim.wechat_notification(sent_wechat.payout_no), refund_status="CHANGE")
    response = _post_wechat(client, notice)
    assert WECHAT_OK in response.content
    sent_wechat.refresh_from_db()
    assert sent_wechat.status == PayoutStatus.UNKNOWN
    assert sent_wechat.needs_check_since is not None
    assert sent_wechat.request.status == RefundStatus.PAYING  # nothing for finance to send again
    assert RefundEvent.objects.filter(kind="payout_needs_check").count() == 1
    assert not RefundEvent.objects.filter(kind="payout_failed").exists()


def test_a_success_notice_for_a_payout_taken_as_failed_alarms_finance_and_changes_nothing(client, sim, sent_wechat):
    Payout.objects.filter(pk=sent_wechat.pk).update(status=PayoutStatus.FAILED, error_code="NOTENOUGH")
    response = _post_wechat(client, sim.wechat_notification(sent_wechat.payout_no))
    assert WECHAT_OK in response.content
    sent_wechat.refresh_from_db()
    assert sent_wechat.status == PayoutStatus.FAILED  # not silently turned into a success
    assert sent_wechat.needs_check_since is not None
    alarm = RefundEvent.objects.get(kind="payout_needs_check")
    assert alarm.payload["code"] == "contradiction" and sent_wechat.payout_no in alarm.payload["message"]
    _post_wechat(client, sim.wechat_notification(sent_wechat.payout_no))  # again: told once
    assert RefundEvent.objects.filter(kind="payout_needs_check").count() == 1


def test_a_payout_reported_paid_after_it_failed_is_never_sent_again_and_a_query_books_it(
    client, sim, sent_wechat, finance
):
    # Taken as refused, though the gateway had paid it; then its verified success notice arrives.
    payout = sent_wechat
    Payout.objects.filter(pk=payout.pk).update(status=PayoutStatus.FAILED, error_code="NOTENOUGH")
    RefundRequest.objects.filter(pk=payout.request_id).update(status=RefundStatus.PAYOUT_FAILED)
    _post_wechat(client, sim.wechat_notification(payout.payout_no))

    with pytest.raises(services.PayoutError):
        services.payout_retry(request_id=payout.request_id, actor=finance.user)
    with pytest.raises(services.PayoutError):
        services.payout_close_unpaid(request_id=payout.request_id, actor=finance.user, reason="无需退款")

    assert services.payout_execute(payout_id=payout.pk) == services.Step.DONE  # finance's "check now"

    payout.refresh_from_db()
    assert payout.status == PayoutStatus.SUCCEEDED
    assert payout.request.status == RefundStatus.REFUNDED
    assert payout.order.refunded_total == payout.amount
    assert Payout.objects.filter(request=payout.request).count() == 1
    assert sim.refunds_executed() == {payout.payout_no: 1}
