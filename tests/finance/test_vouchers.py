"""Vouchers: one per successful payout or recorded transfer, balanced, never edited (a correction
is a reversing voucher), numbered per month without gaps even when payouts finish at once."""

from __future__ import annotations

import datetime
import threading
import uuid
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from finance.models import Voucher, VoucherImmutableError, VoucherKind, VoucherLine
from finance.vouchers import VoucherError, voucher_reverse
from orders.models import PaymentChannel
from payments import tasks as payment_tasks
from payments.gateways.base import GatewayAnswer, Outcome
from payments.services import payout_answer_apply, payout_record_transfer
from tests import factories
from tests.payments.helpers import approved_request

from .helpers import paid_refund


def balanced(voucher: Voucher) -> bool:
    totals = voucher.lines.aggregate(debit=Sum("debit"), credit=Sum("credit"))
    return totals["debit"] == totals["credit"] == voucher.amount


@pytest.fixture
def voucher(campus, homeroom, finance, shipped_data) -> Voucher:
    return paid_refund(campus=campus, homeroom=homeroom, finance=finance, price="300.00")[1].vouchers.get()


# --- Written by the payouts -----------------------------------------------------------------------


def test_offline_transfer_writes_its_voucher(campus, homeroom, finance, shipped_data):
    request, payout = paid_refund(campus=campus, homeroom=homeroom, finance=finance, channel=PaymentChannel.OFFLINE)
    voucher = Voucher.objects.get(payout=payout)
    assert (voucher.kind, voucher.amount, voucher.created_by) == (VoucherKind.REFUND, payout.amount, finance.user)
    assert voucher.date == timezone.localdate()
    assert request.request_no in voucher.summary
    lines = list(voucher.lines.values_list("position", "account_code", "debit", "credit"))
    assert lines == [(1, "2203", payout.amount, Decimal("0.00")), (2, "1002", Decimal("0.00"), payout.amount)]
    assert balanced(voucher)


def test_gateway_success_writes_a_system_voucher(campus, homeroom, finance, shipped_data):
    payout = paid_refund(campus=campus, homeroom=homeroom, finance=finance, channel=PaymentChannel.ALIPAY)[1]
    voucher = Voucher.objects.get(payout=payout)
    assert voucher.created_by is None
    assert voucher.lines.get(position=2).account_code == "1012.02"
    assert balanced(voucher)


# --- Never edited -----------------------------------------------------------------------------------


def test_a_voucher_cannot_be_saved_again(voucher):
    voucher.summary = "改过的摘要"
    with pytest.raises(VoucherImmutableError, match="reversing voucher"):
        voucher.save()
    assert Voucher.objects.get(pk=voucher.pk).summary != "改过的摘要"


def test_a_voucher_line_cannot_be_saved_again(voucher):
    line = voucher.lines.get(position=1)
    line.debit = Decimal("1.00")
    with pytest.raises(VoucherImmutableError):
        line.save()
    assert VoucherLine.objects.get(pk=line.pk).debit == voucher.amount


def test_vouchers_and_lines_cannot_be_deleted(voucher):
    with pytest.raises(VoucherImmutableError, match="cannot be deleted"):
        voucher.delete()
    with pytest.raises(VoucherImmutableError):
        voucher.lines.first().delete()
    assert Voucher.objects.filter(pk=voucher.pk).exists() and voucher.lines.count() == 2


def test_a_copy_with_the_same_primary_key_does_not_overwrite(voucher):
    copy = Voucher(pk=voucher.pk, period="2026-01", number=99, date=voucher.date, summary="x", amount=1)
    copy.created_at = timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic():
        copy.save()
    assert Voucher.objects.get(pk=voucher.pk).number == voucher.number


# --- Reversal ---------------------------------------------------------------------------------------


def test_reversal_swaps_the_lines_and_takes_the_next_number(voucher, finance, campus, homeroom):
    paid_refund(campus=campus, homeroom=homeroom, finance=finance)  # number 2
    reversal = voucher_reverse(voucher_id=voucher.pk, actor=finance.user, reason="重复入账")
    assert (reversal.kind, reversal.reverses, reversal.payout_id) == (VoucherKind.REVERSAL, voucher, voucher.payout_id)
    assert (reversal.period, reversal.number) == (voucher.period, 3)
    assert (reversal.amount, reversal.created_by) == (voucher.amount, finance.user)
    assert voucher.code in reversal.summary and "重复入账" in reversal.summary
    original = list(voucher.lines.values_list("position", "account_code", "account_name", "debit", "credit", "memo"))
    swapped = list(reversal.lines.values_list("position", "account_code", "account_name", "credit", "debit", "memo"))
    assert swapped == original
    assert balanced(reversal)


def test_reversal_is_numbered_in_the_month_it_is_made(voucher, finance):
    at = timezone.make_aware(datetime.datetime(2027, 1, 1, 0, 5))  # just past midnight, Shanghai
    reversal = voucher_reverse(voucher_id=voucher.pk, actor=finance.user, reason="跨月冲销", at=at)
    assert (reversal.period, reversal.number, reversal.date) == ("2027-01", 1, datetime.date(2027, 1, 1))


def test_a_voucher_is_reversed_only_once(voucher, finance):
    voucher_reverse(voucher_id=voucher.pk, actor=finance.user, reason="第一次")
    with pytest.raises(VoucherError, match="已被冲销"):
        voucher_reverse(voucher_id=voucher.pk, actor=finance.user, reason="第二次")
    assert Voucher.objects.filter(kind=VoucherKind.REVERSAL).count() == 1
    assert Voucher.objects.order_by("-number").first().number == 2  # no number spent on the refusal


def test_the_database_allows_one_reversal_per_voucher(voucher, finance):
    voucher_reverse(voucher_id=voucher.pk, actor=finance.user, reason="第一次")
    with pytest.raises(IntegrityError), transaction.atomic():
        Voucher.objects.create(
            period=voucher.period,
            number=50,
            date=voucher.date,
            kind=VoucherKind.REVERSAL,
            summary="x",
            amount=voucher.amount,
            reverses=voucher,
            created_at=timezone.now(),
        )


def test_a_reversal_cannot_be_reversed(voucher, finance):
    reversal = voucher_reverse(voucher_id=voucher.pk, actor=finance.user, reason="冲销")
    with pytest.raises(VoucherError, match="本身就是冲销凭证"):
        voucher_reverse(voucher_id=reversal.pk, actor=finance.user, reason="再冲")


def test_a_reversal_needs_a_reason(voucher, finance):
    with pytest.raises(VoucherError, match="冲销原因"):
        voucher_reverse(voucher_id=voucher.pk, actor=finance.user, reason="   ")
    assert not Voucher.objects.filter(kind=VoucherKind.REVERSAL).exists()


# --- In the admin -----------------------------------------------------------------------------------


@pytest.fixture
def finance_client(client, finance):
    client.force_login(finance.user)
    client.cookies["django_language"] = "en"
    return client


def test_voucher_page_shows_the_lines_the_balance_and_the_reverse_button(finance_client, voucher):
    page = finance_client.get(reverse("admin:finance_voucher_change", args=[voucher.pk])).content.decode()
    assert "合同负债-预收学费" in page and "其他货币资金-微信支付" in page
    assert f"debit {voucher.amount:,.2f}, credit {voucher.amount:,.2f}: balanced" in page
    assert reverse("admin:finance_voucher_reverse", args=[voucher.pk]) in page


def test_reversing_from_the_admin(finance_client, voucher):
    url = reverse("admin:finance_voucher_reverse", args=[voucher.pk])
    assert finance_client.get(url).status_code == 200
    refused = finance_client.post(url, {"reason": ""})
    assert refused.status_code == 200 and refused.context["form"].errors["reason"]

    response = finance_client.post(url, {"reason": "金额录错"})

    reversal = Voucher.objects.get(reverses=voucher)
    assert response["Location"] == reverse("admin:finance_voucher_change", args=[reversal.pk])
    page = finance_client.get(reverse("admin:finance_voucher_change", args=[voucher.pk])).content.decode()
    assert reversal.code in page
    assert url not in page  # reversed: no second button
    again = finance_client.post(url, {"reason": "再来"})
    assert again.status_code == 302
    assert Voucher.objects.filter(reverses=voucher).count() == 1


def test_reversal_without_the_permission_is_refused(client, campus_head, voucher):
    client.force_login(campus_head.user)  # sees vouchers, may not reverse them
    url = reverse("admin:finance_voucher_reverse", args=[voucher.pk])
    page = client.get(reverse("admin:finance_voucher_change", args=[voucher.pk]))
    assert page.status_code == 200 and url not in page.content.decode()
    assert client.post(url, {"reason": "x"}).status_code == 403
    assert not Voucher.objects.filter(reverses=voucher).exists()


def test_another_campus_cannot_reverse(client, other_campus, voucher):
    stranger = factories.make_staff(role="finance", campus=other_campus)
    client.force_login(stranger.user)
    assert client.post(reverse("admin:finance_voucher_reverse", args=[voucher.pk]), {"reason": "x"}).status_code == 404


# --- Numbering under concurrency (PostgreSQL, threads) ----------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_transfers_recorded_at_once_get_numbers_one_to_twenty(
    campus, homeroom, finance, default_refund_policies
):
    requests = []
    for _ in range(20):
        student = factories.make_student(campus=campus)
        request, _payout = approved_request(
            student=student, homeroom=homeroom, campus=campus, channel=PaymentChannel.CARD
        )
        requests.append(request)
    barrier = threading.Barrier(len(requests))
    errors: list[BaseException] = []

    def record(request_id: int) -> None:
        try:
            barrier.wait()
            payout_record_transfer(
                request_id=request_id,
                actor=finance.user,
                bank_reference=f"BK{request_id}",
                transferred_on=timezone.localdate(),
            )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=record, args=(request.pk,)) for request in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    period = f"{timezone.localdate():%Y-%m}"
    assert sorted(Voucher.objects.filter(period=period).values_list("number", flat=True)) == list(range(1, 21))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_numbers_stay_gapless_when_answers_transfers_and_a_reversal_land_at_once(
    campus, homeroom, finance, default_refund_policies, monkeypatch
):
    # The broker has not handed the online payouts to a worker yet: they wait for a gateway answer.
    monkeypatch.setattr(payment_tasks.execute_payout, "delay", lambda *args, **kwargs: None)
    earlier = paid_refund(campus=campus, homeroom=homeroom, finance=finance, channel=PaymentChannel.CARD)[1]
    to_reverse = earlier.vouchers.get()
    work = []
    for n in range(20):
        channel = PaymentChannel.WECHAT if n % 2 else PaymentChannel.CARD
        student = factories.make_student(campus=campus)
        request, payout = approved_request(student=student, homeroom=homeroom, campus=campus, channel=channel)
        work.append((request.pk, payout.pk, payout.amount, channel))
    barrier = threading.Barrier(len(work) + 1)
    errors: list[BaseException] = []

    def run(action) -> None:
        try:
            barrier.wait()
            action()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    def settle(request_id: int, payout_id: int, amount: Decimal, channel: str):
        if channel == PaymentChannel.CARD:
            return lambda: payout_record_transfer(
                request_id=request_id,
                actor=finance.user,
                bank_reference=f"BK{request_id}",
                transferred_on=timezone.localdate(),
            )
        answer = GatewayAnswer(outcome=Outcome.SUCCEEDED, gateway_refund_id=uuid.uuid4().hex, amount=amount)
        return lambda: payout_answer_apply(payout_id=payout_id, answer=answer)

    actions = [settle(*item) for item in work]
    actions.append(lambda: voucher_reverse(voucher_id=to_reverse.pk, actor=finance.user, reason="并发冲销"))
    threads = [threading.Thread(target=run, args=(action,)) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    period = f"{timezone.localdate():%Y-%m}"
    numbers = sorted(Voucher.objects.filter(period=period).values_list("number", flat=True))
    assert numbers == list(range(1, 23))
    assert Voucher.objects.filter(kind=VoucherKind.REFUND).count() == 21
    assert Voucher.objects.get(kind=VoucherKind.REVERSAL).reverses == to_reverse
    assert all(balanced(v) for v in Voucher.objects.all())
