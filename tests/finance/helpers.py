"""The finance tests' helpers: paid refunds with their payouts, and exports read back cell by cell."""

from __future__ import annotations

import csv
import datetime
import io
import uuid
from decimal import Decimal

import openpyxl
from django.contrib.auth.models import Permission
from django.utils import timezone

from finance.models import Voucher, VoucherLine
from finance.writers import Kind
from orders.models import PaymentChannel
from payments.gateways.base import GatewayAnswer, Outcome
from payments.models import Payout, PayoutStatus
from payments.services import MANUAL_CHANNELS, payout_answer_apply, payout_record_transfer
from refunds.models import QuoteLineKind, RefundRequest, StepDecision
from refunds.services import refund_approve
from tests import factories
from tests.refunds.helpers import order_at, submit

# --- paid refunds ----------------------------------------------------------------------


def paid_refund(
    *,
    campus,
    homeroom,
    finance=None,
    student=None,
    channel: str = PaymentChannel.WECHAT,
    price: str = "300.00",
    paid_at: datetime.datetime | None = None,
    name: str = "",
) -> tuple[RefundRequest, Payout]:
    """A small refund approved by the homeroom teacher and paid back: a gateway's answer applied
    by ``payout_answer_apply`` (WeChat Pay, Alipay) or a transfer recorded by finance (card,
    offline). Needs the ``shipped_data`` (or ``default_refund_policies``) fixture.

    ``paid_at`` moves the payout's send and finish to that time afterwards (its voucher keeps
    today's date and number).
    """
    student = student or factories.make_student(campus=campus, name=name)
    order = order_at(student=student, homeroom=homeroom, campus=campus, price=price, channel=channel)
    request = submit(order)
    refund_approve(request_id=request.pk, actor=homeroom.user)
    payout = request.payouts.get()
    if channel in MANUAL_CHANNELS:
        actor = finance.user if finance is not None else factories.make_staff(role="finance", campus=campus).user
        payout_record_transfer(
            request_id=request.pk, actor=actor, bank_reference=f"BK{payout.pk}", transferred_on=timezone.localdate()
        )
    else:
        answer = GatewayAnswer(
            outcome=Outcome.SUCCEEDED,
            gateway_refund_id=f"50{uuid.uuid4().int % 10**26:026d}",
            amount=payout.amount,
        )
        payout_answer_apply(payout_id=payout.pk, answer=answer)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.SUCCEEDED, payout.status
    if paid_at is not None:
        Payout.objects.filter(pk=payout.pk).update(finished_at=paid_at, sent_at=paid_at)
        payout.refresh_from_db()
    request.refresh_from_db()
    return request, payout


def money(value) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


# --- exports read back -----------------------------------------------------------------

CENT = Decimal("0.01")
EXPORT = "finance.export_reports"


def grant(user, *perms: str):
    """``user`` with extra permissions, fetched again so the permission cache is fresh."""
    for dotted in perms:
        app_label, codename = dotted.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return type(user).objects.get(pk=user.pk)


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def csv_rows(data: bytes) -> list[list[str]]:
    assert data.startswith("\ufeff".encode()), "CSV must start with a UTF-8 BOM"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def xlsx_sheet(data: bytes):
    return openpyxl.load_workbook(io.BytesIO(data)).active


def local(value: datetime.datetime | None) -> datetime.datetime | None:
    return timezone.localtime(value).replace(tzinfo=None, microsecond=0) if value else None


def as_text(value, kind: str) -> str:
    """How the CSV must show a database value."""
    if value is None or value == "":
        return ""
    if kind == Kind.MONEY:
        return f"{value:.2f}"
    if kind == Kind.DATETIME:
        return f"{local(value):%Y-%m-%d %H:%M:%S}"
    if kind == Kind.DATE:
        return value.isoformat()
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def assert_csv_matches(rows: list[list[str]], columns, expected: list[list]) -> None:
    assert rows[0] == [str(c.label) for c in columns]
    assert len(rows) - 1 == len(expected)
    for got, want in zip(rows[1:], expected, strict=True):
        assert got == [as_text(value, c.kind) for value, c in zip(want, columns, strict=True)]


def assert_xlsx_matches(sheet, columns, expected: list[list]) -> None:
    """Typed cells: money numbers with '#,##0.00', times as Shanghai datetimes, dates as dates."""
    rows = list(sheet.iter_rows())
    assert [cell.value for cell in rows[0]] == [str(c.label) for c in columns]
    assert len(rows) - 1 == len(expected)
    for cells, want in zip(rows[1:], expected, strict=True):
        for cell, value, column in zip(cells, want, columns, strict=True):
            where = f"{cell.coordinate} ({column.label})"
            if value is None or value == "":
                assert cell.value in (None, ""), where
            elif column.kind == Kind.MONEY:
                assert isinstance(cell.value, int | float), where
                assert Decimal(str(cell.value)).quantize(CENT) == value, where
                assert cell.number_format == "#,##0.00", where
            elif column.kind == Kind.INT:
                assert cell.value == value, where
            elif column.kind == Kind.DATETIME:
                assert cell.is_date and cell.value == local(value), where
            elif column.kind == Kind.DATE:
                assert cell.is_date and cell.value.date() == value, where
            else:
                assert cell.value == as_text(value, Kind.TEXT), where


def ledger_expected(payout: Payout) -> list:
    """The ledger row of ``payout``, read from the models."""
    payout = Payout.objects.select_related("request__quote", "request__campus", "order__course").get(pk=payout.pk)
    request, order = payout.request, payout.order
    fee = sum(line.amount for line in request.quote.lines.filter(kind=QuoteLineKind.HANDLING_FEE))
    succeeded = payout.status == "succeeded"
    user = request.student.user
    return [
        request.request_no,
        order.order_no,
        user.name or user.username,
        order.course.name,
        request.campus.name,
        str(payout.get_channel_display()),
        order.gateway_trade_no,
        payout.payout_no,
        payout.gateway_refund_id,
        order.amount_paid,
        request.quote.total,
        request.approved_amount,
        -fee if fee else Decimal("0.00"),
        payout.amount if succeeded else None,
        request.submitted_at,
        request.decided_at,
        payout.finished_at if succeeded else None,
        "；".join(
            f"{step.get_tier_display()}：{step.decided_by.user.name}"
            for step in request.steps.filter(decision=StepDecision.APPROVED).order_by("decided_at", "pk")
        ),
        str(payout.get_status_display()),
    ]


def voucher_expected(voucher: Voucher) -> list[list]:
    rows = []
    for line in VoucherLine.objects.filter(voucher=voucher).order_by("position"):
        payout = voucher.payout
        by = voucher.created_by
        rows.append(
            [
                voucher.code,
                voucher.date,
                str(voucher.get_kind_display()),
                voucher.summary,
                line.position,
                line.account_code,
                line.account_name,
                line.debit or None,
                line.credit or None,
                line.memo,
                payout.payout_no if payout else "",
                payout.request.request_no if payout else "",
                payout.request.campus.name if payout else "",
                voucher.reverses.code if voucher.reverses_id else "",
                (by.name or by.username) if by else "system",
            ]
        )
    return rows
