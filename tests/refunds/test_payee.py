"""A refund paid by hand (an order paid by bank card or offline) goes to the bank account the
student names when she applies: checked once (refunds.payee), kept on the request, copied onto the
payout finance transfers by; the student sees it masked, never a WeChat/Alipay order asking for it."""

from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import translation

from orders.models import PaymentChannel
from payments.gateways.registry import manual_channels
from refunds.models import RefundRequest
from refunds.payee import PAYEE_CHANNELS, Payee, payee_clean
from refunds.services import RefundActionError
from tests.payments.helpers import approved_request

from .helpers import PAYEE, order_at, submit

pytestmark = pytest.mark.django_db


def test_the_payee_channels_are_the_payment_side_s_manual_gateways():
    assert set(PAYEE_CHANNELS) == set(manual_channels())


def test_an_account_is_tidied_spaces_and_dashes_out_of_the_number():
    payee = payee_clean(name=" 李小明 ", bank="中国工商银行", branch="", account_no="6222 0202-0011 2233 445")
    assert payee == Payee(name="李小明", bank="中国工商银行", branch="", account_no="6222020200112233445")
    assert payee.account_masked == "**** 3445"


@pytest.mark.parametrize(
    ("fields", "wrong"),
    [
        ({"name": ""}, {"name"}),
        ({"bank": " "}, {"bank"}),
        ({"account_no": "6222abc0200112233"}, {"account_no"}),
        ({"account_no": "62220202"}, {"account_no"}),  # too short for a card
        ({"account_no": "6" * 31}, {"account_no"}),
        ({"name": "", "account_no": ""}, {"name", "account_no"}),
    ],
)
def test_each_wrong_field_is_named(fields, wrong):
    given = {"name": "李小明", "bank": "中国工商银行", "branch": "", "account_no": "6222020200112233445", **fields}
    with pytest.raises(ValidationError) as refused:
        payee_clean(**given)
    assert set(refused.value.message_dict) == wrong


def test_a_card_order_s_application_without_an_account_is_refused_and_saves_nothing(student, homeroom, campus):
    order = order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00", channel=PaymentChannel.CARD)
    with pytest.raises(RefundActionError) as refused:
        submit(order, payee=None)
    assert refused.value.code == "payee"
    assert not RefundRequest.objects.filter(order=order).exists()


def test_a_wechat_order_needs_no_account_and_keeps_none(student, homeroom, campus):
    order = order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00")
    request = submit(order)  # the helper names an account: a gateway refund ignores it
    assert (request.payee_name, request.payee_account_no) == ("", "")


@pytest.mark.parametrize("channel", [PaymentChannel.CARD, PaymentChannel.OFFLINE])
def test_the_account_she_named_is_on_the_payout_finance_transfers_by(student, homeroom, campus, channel):
    request, payout = approved_request(student=student, homeroom=homeroom, campus=campus, channel=channel)
    assert (request.payee_name, request.payee_bank, request.payee_account_no) == (
        PAYEE.name,
        PAYEE.bank,
        PAYEE.account_no,
    )
    assert (payout.payee_name, payout.payee_bank, payout.payee_branch, payout.payee_account_no) == (
        PAYEE.name,
        PAYEE.bank,
        PAYEE.branch,
        PAYEE.account_no,
    )


# --- The student's pages -------------------------------------------------------------------------


@pytest.fixture
def as_student(client, student, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    }
    client.force_login(student.user)
    return client


def _apply(client, order, **fields):
    data = {"reason": "time_conflict", "details": "工作调动。", "confirm": "on", **fields}
    with translation.override("zh-hans"):
        return client.post(reverse("portal:apply", args=[order.order_no]), data, HTTP_ACCEPT_LANGUAGE="zh-hans")


def test_a_card_order_s_apply_page_asks_where_the_refund_goes(as_student, student, homeroom, campus):
    card = order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00", channel=PaymentChannel.CARD)
    wechat = order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00")
    url = "portal:apply"
    card_page = as_student.get(reverse(url, args=[card.order_no]), {"reason": "time_conflict"}).content.decode()
    wechat_page = as_student.get(reverse(url, args=[wechat.order_no]), {"reason": "time_conflict"}).content.decode()
    assert 'name="payee_account_no"' in card_page and 'inputmode="numeric"' in card_page
    assert 'name="payee_account_no"' not in wechat_page


def test_a_wrong_account_is_refused_at_its_field_listed_on_top_and_saves_nothing(as_student, student, homeroom, campus):
    card = order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00", channel=PaymentChannel.CARD)
    response = _apply(as_student, card, payee_name="李小明", payee_bank="中国工商银行", payee_account_no="6222-abc")
    page = response.content.decode()
    assert response.status_code == 200
    assert not RefundRequest.objects.filter(order=card).exists()
    summary = page.split('id="error-summary"', 1)[1].split("</div>", 1)[0]
    assert 'href="#id_payee_account_no"' in summary
    assert "工作调动。" in page  # what she typed is kept


def test_her_account_is_saved_and_shown_to_her_masked(as_student, student, homeroom, campus):
    card = order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00", channel=PaymentChannel.CARD)
    response = _apply(
        as_student,
        card,
        payee_name="李小明",
        payee_bank="招商银行",
        payee_branch="北京分行",
        payee_account_no="6225 8801 2345 6789",
    )
    request = RefundRequest.objects.get(order=card)
    assert response.status_code == 302
    assert (request.payee_bank, request.payee_account_no) == ("招商银行", "6225880123456789")
    page = as_student.get(reverse("portal:request", args=[request.request_no])).content.decode()
    assert "招商银行 **** 6789" in page
    assert "6225880123456789" not in page
