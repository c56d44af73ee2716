"""The bank-transfer refund as finance sees it (issue 20): named as waiting for finance, a
primary action to record the transfer, the payee's account in full only on the transfer page
(finance's), and none of the worker's internals."""

import pytest
from django.urls import reverse
from django.utils.html import escape

from orders.models import PaymentChannel
from payments import services
from payments.models import Payout, PayoutStatus, mask_account_no
from payments.selectors import AWAITING_TRANSFER, payout_awaits_finance, payout_state_display
from tests import factories
from tests.refunds.helpers import zh

from .helpers import approved_request

pytestmark = pytest.mark.django_db

CARD_NO = "6222021234567890123"


@pytest.fixture
def card_refund(student, homeroom, campus, finance):
    request, payout = approved_request(student=student, homeroom=homeroom, campus=campus, channel=PaymentChannel.CARD)
    payout = services.payout_payee_record(
        payout_id=payout.pk,
        actor=finance.user,
        name="王小明",
        bank="中国工商银行",
        branch="北京海淀支行",
        account_no="6222 0212 3456 7890 123",
    )
    return request, payout


def _url(name: str, *args) -> str:
    return reverse(f"admin:payments_payout_{name}", args=args)


def test_a_queued_bank_card_payout_is_named_as_waiting_for_finance(card_refund):
    _request, payout = card_refund
    assert payout.status == PayoutStatus.QUEUED
    assert payout_awaits_finance(payout)
    assert payout_state_display(payout) == str(AWAITING_TRANSFER)
    assert payout_state_display(payout) != str(payout.get_status_display())


def test_a_queued_online_payout_keeps_its_status(student, homeroom, campus):
    _request, payout = approved_request(student=student, homeroom=homeroom, campus=campus)
    Payout.objects.filter(pk=payout.pk).update(status=PayoutStatus.QUEUED)
    payout.refresh_from_db()
    assert not payout_awaits_finance(payout)
    assert payout_state_display(payout) == str(payout.get_status_display())


def test_the_payout_list_and_page_say_finance_must_act(client, card_refund, finance):
    _request, payout = card_refund
    client.force_login(finance.user)
    listing = client.get(_url("changelist")).content.decode()
    assert 'class="payout-awaits-finance"' in listing
    assert escape(zh("Awaiting finance's bank transfer")) in listing
    waiting = client.get(_url("changelist") + "?awaits_transfer=yes").content.decode()
    assert payout.payout_no in waiting

    page = client.get(_url("change", payout.pk)).content.decode()
    assert 'class="payout-awaits-finance"' in page
    assert 'id="record-transfer-link"' in page
    assert 'class="button default payout-primary-action"' in page
    assert _url("record_transfer", payout.pk) in page


def test_the_payout_page_shows_the_card_masked_and_no_worker_internals(client, card_refund, finance):
    _request, payout = card_refund
    client.force_login(finance.user)
    page = client.get(_url("change", payout.pk)).content.decode()
    assert "**** 0123" in page
    assert CARD_NO not in page
    assert "王小明" in page and "北京海淀支行" in page
    for internal in ("lease_until", "attempts"):
        assert f"field-{internal}" not in page
    assert zh("being worked on until") not in page
    listing = client.get(_url("changelist")).content.decode()
    assert "column-attempts" not in listing


def test_a_superuser_still_sees_the_worker_internals(client, card_refund):
    _request, payout = card_refund
    admin_user = factories.make_user(username="root", is_staff=True, is_superuser=True)
    client.force_login(admin_user)
    page = client.get(_url("change", payout.pk)).content.decode()
    assert "field-lease_until" in page
    assert "field-attempts" in page


def test_the_transfer_form_shows_finance_the_payee_and_amount_above_it(client, card_refund, finance):
    _request, payout = card_refund
    client.force_login(finance.user)
    page = client.get(_url("record_transfer", payout.pk)).content.decode()
    payee = page[page.index('id="transfer-payee"') : page.index('enctype="multipart/form-data"')]
    assert "王小明" in payee
    assert "中国工商银行" in payee
    assert "北京海淀支行" in payee
    assert "6222 0212 3456 7890 123" in payee  # in full, grouped by four: finance pays from it
    assert f"¥{payout.amount}" in payee


def test_an_approver_without_the_permission_never_sees_the_full_card(client, card_refund, campus_head):
    _request, payout = card_refund
    client.force_login(campus_head.user)
    assert client.get(_url("record_transfer", payout.pk)).status_code == 403
    page = client.get(_url("change", payout.pk)).content.decode()
    assert "**** 0123" in page
    assert CARD_NO not in page
    assert "6222 0212" not in page
    assert 'id="record-transfer-link"' not in page


def test_a_transfer_page_without_a_payee_says_to_ask_the_student(client, student, homeroom, campus, finance):
    _request, payout = approved_request(student=student, homeroom=homeroom, campus=campus, channel=PaymentChannel.CARD)
    # As for a request customer service filed for her without an account: none on the payout.
    Payout.objects.filter(pk=payout.pk).update(payee_name="", payee_bank="", payee_branch="", payee_account_no="")
    client.force_login(finance.user)
    page = client.get(_url("record_transfer", payout.pk)).content.decode()
    assert 'id="payee-missing"' in page
    assert f"¥{payout.amount}" in page


@pytest.mark.parametrize(
    ("number", "masked"),
    [("6222021234567890123", "**** 0123"), ("6222 0212 3456", "**** 3456"), ("1234", "****"), ("", "")],
)
def test_an_account_number_is_masked_but_its_last_four(number, masked):
    assert mask_account_no(number) == masked


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"name": "", "bank": "工行", "branch": "", "account_no": "6222"}, "payee"),
        ({"name": "王", "bank": "工行", "branch": "", "account_no": "6222-ABC"}, "payee"),
    ],
)
def test_a_payee_without_name_or_with_a_bad_number_is_refused(card_refund, finance, fields, code):
    _request, payout = card_refund
    with pytest.raises(services.PayoutError) as refused:
        services.payout_payee_record(payout_id=payout.pk, actor=finance.user, **fields)
    assert refused.value.code == code
    payout.refresh_from_db()
    assert payout.payee_account_no == CARD_NO


def test_an_online_payout_takes_no_payee(student, homeroom, campus, finance):
    _request, payout = approved_request(student=student, homeroom=homeroom, campus=campus)
    with pytest.raises(services.PayoutError) as refused:
        services.payout_payee_record(
            payout_id=payout.pk, actor=finance.user, name="王", bank="工行", branch="", account_no="6222020200112233445"
        )
    assert refused.value.code == "state"


def test_finance_enters_the_payee_the_student_gave_then_sees_it_above_the_transfer(
    client, student, homeroom, campus, finance
):
    _request, payout = approved_request(student=student, homeroom=homeroom, campus=campus, channel=PaymentChannel.CARD)
    client.force_login(finance.user)
    assert _url("payee", payout.pk) in client.get(_url("record_transfer", payout.pk)).content.decode()
    response = client.post(
        _url("payee", payout.pk),
        {"name": "李雷", "bank": "招商银行", "branch": "深圳科技园支行", "account_no": "6225 8812 3456 7788"},
    )
    assert response.status_code == 302
    assert response["Location"] == _url("record_transfer", payout.pk)
    payout.refresh_from_db()
    assert (payout.payee_name, payout.payee_bank, payout.payee_account_no) == ("李雷", "招商银行", "6225881234567788")
    assert payout.history.first().history_user == finance.user
    page = client.get(_url("record_transfer", payout.pk)).content.decode()
    assert "6225 8812 3456 7788" in page


def test_a_bad_payee_number_is_shown_back_and_nothing_is_saved(client, card_refund, finance):
    _request, payout = card_refund
    client.force_login(finance.user)
    response = client.post(
        _url("payee", payout.pk), {"name": "李雷", "bank": "招商银行", "branch": "", "account_no": "62-25"}
    )
    assert response.status_code == 200
    assert "errornote" in response.content.decode() or "errorlist" in response.content.decode()
    payout.refresh_from_db()
    assert payout.payee_account_no == CARD_NO


def test_an_approver_without_the_permission_cannot_enter_a_payee(client, card_refund, campus_head):
    _request, payout = card_refund
    client.force_login(campus_head.user)
    assert client.get(_url("payee", payout.pk)).status_code == 403
    response = client.post(_url("payee", payout.pk), {"name": "X", "bank": "Y", "account_no": "1111222233334444"})
    assert response.status_code == 403
    payout.refresh_from_db()
    assert payout.payee_account_no == CARD_NO
