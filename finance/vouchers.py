"""Vouchers (记账凭证) of the money paid back, one per payout that succeeded, and of course
exchanges, one per exchange completed; numbered within the month without gaps, never edited; a
correction is a reversing voucher.

Payments does not call finance: it records a payout event (``payments.events``) in the
transaction that books the payout as paid, and ``voucher_on_payout_event`` (registered in
``FinanceConfig.ready``) writes the voucher in that same transaction, so a payout is never
booked without its voucher nor a voucher written for money that did not leave.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from payments.events import PayoutEvent, PayoutEventKind
from payments.gateways.registry import gateway_class
from payments.models import Payout
from schoolops.errors import ActionRefused

from .models import Voucher, VoucherKind, VoucherLine, VoucherSequence

if TYPE_CHECKING:
    from orders.models import Order
    from refunds.models import RefundRequest
    from schoolops.models import User

# The debit line of every refund voucher (small-business standard codes); the credit line is the
# account the money left from, which each gateway names (``RefundGateway.ledger_account``).
CONTRACT_LIABILITY = ("2203", "合同负债-预收学费")
ZERO = Decimal("0.00")


class VoucherError(ActionRefused):
    """A refused voucher action: nothing changed. ``message`` is for the person who tried."""


def voucher_on_payout_event(event: PayoutEvent) -> None:
    """``payout_event_writer``: a payout that succeeded gets its voucher, in the booking's transaction."""
    if event.kind == PayoutEventKind.SUCCEEDED:
        voucher_for_payout(payout=event.payout, at=event.at, actor=event.actor)


def voucher_for_payout(*, payout: Payout, at: datetime.datetime, actor: User | None = None) -> Voucher:
    """The refund voucher: debit the unearned tuition, credit the account the money left from.
    Numbered within the month under a row lock, so numbers have no gaps or duplicates."""
    request = payout.request
    credit_code, credit_name = gateway_class(payout.channel).ledger_account
    summary = _("Refund %(request)s, order %(order)s, %(student)s") % {
        "request": request.request_no,
        "order": payout.order.order_no,
        "student": request.student.user.name or request.student.user.username,
    }
    memo = f"{payout.payout_no} {payout.gateway_refund_id}".strip()
    return _voucher_write(
        kind=VoucherKind.REFUND,
        summary=summary,
        amount=payout.amount,
        request=request,
        payout=payout,
        lines=[
            (CONTRACT_LIABILITY, payout.amount, ZERO, memo),
            ((credit_code, credit_name), ZERO, payout.amount, memo),
        ],
        at=at,
        actor=actor,
    )


def voucher_for_exchange(
    *,
    request: RefundRequest,
    old_order: Order,
    new_order: Order,
    credit: Decimal,
    at: datetime.datetime,
    received: tuple[str, Decimal, str] | None = None,
) -> Voucher:
    """The voucher of a completed course exchange: the tuition received in advance moves from the
    old course to the new one (the value carried), and a difference the student paid is received
    into the gateway's account (``received``: channel, amount, gateway transaction number). A
    difference refunded has its own refund voucher, written when the payout succeeded."""
    student = request.student.user
    summary = _("Course exchange %(request)s: order %(old)s to %(new)s, %(student)s") % {
        "request": request.request_no,
        "old": old_order.order_no,
        "new": new_order.order_no,
        "student": student.name or student.username,
    }
    old_memo = f"{old_order.order_no} {old_order.course.code}"
    new_memo = f"{new_order.order_no} {new_order.course.code}"
    lines: list[_Line] = [
        (CONTRACT_LIABILITY, credit, ZERO, old_memo),
        (CONTRACT_LIABILITY, ZERO, credit, new_memo),
    ]
    total = credit
    if received is not None:
        channel, amount, trade_no = received
        lines.append((gateway_class(channel).ledger_account, amount, ZERO, trade_no))
        lines.append((CONTRACT_LIABILITY, ZERO, amount, new_memo))
        total += amount
    return _voucher_write(
        kind=VoucherKind.EXCHANGE, summary=summary, amount=total, request=request, payout=None, lines=lines, at=at
    )


# (account (code, name), debit, credit, memo)
_Line = tuple[tuple[str, str], Decimal, Decimal, str]


def _voucher_write(
    *,
    kind: str,
    summary: str,
    amount: Decimal,
    request: RefundRequest,
    payout: Payout | None,
    lines: list[_Line],
    at: datetime.datetime,
    actor: User | None = None,
) -> Voucher:
    """Number and write one voucher with its lines (which must balance), in the caller's transaction."""
    if sum(line[1] for line in lines) != sum(line[2] for line in lines):
        raise ValueError(f"Voucher lines do not balance: {lines!r}")
    day = timezone.localdate(at)
    voucher = Voucher.objects.create(
        period=f"{day:%Y-%m}",
        number=_next_voucher_number(f"{day:%Y-%m}"),
        date=day,
        kind=kind,
        summary=summary[:200],
        amount=amount,
        payout=payout,
        request=request,
        created_at=at,
        created_by=actor,
    )
    VoucherLine.objects.bulk_create(
        VoucherLine(
            voucher=voucher,
            position=position,
            account_code=account[0],
            account_name=account[1],
            debit=debit,
            credit=credit,
            memo=memo,
        )
        for position, (account, debit, credit, memo) in enumerate(lines, start=1)
    )
    return voucher


def _next_voucher_number(period: str) -> int:
    sequence, _created = VoucherSequence.objects.select_for_update().get_or_create(period=period)
    sequence.last_number += 1
    sequence.save(update_fields=["last_number"])
    return sequence.last_number


def voucher_reverse(*, voucher_id: int, actor: User, reason: str, at: datetime.datetime | None = None) -> Voucher:
    """Cancel a voucher by a reversing one: the same lines with debit and credit swapped, numbered
    in the month of ``at``. A voucher is reversed at most once, and a reversal never."""
    now = at or timezone.now()
    reason = reason.strip()
    if not reason:
        raise VoucherError(_("Give the reason for the reversal."), code="reason")
    day = timezone.localdate(now)
    with transaction.atomic():
        original = Voucher.objects.select_for_update().filter(pk=voucher_id).first()
        if original is None:
            raise VoucherError(_("Voucher %(id)s does not exist.") % {"id": voucher_id}, code="missing")
        if original.kind == VoucherKind.REVERSAL:
            raise VoucherError(
                _("%(code)s is itself a reversal; it cannot be reversed.") % {"code": original.code}, code="reversal"
            )
        already = _("%(code)s has already been reversed.") % {"code": original.code}
        if Voucher.objects.filter(reverses=original).exists():
            raise VoucherError(already, code="reversed")
        summary = _("Reversal of %(code)s: %(reason)s") % {"code": original.code, "reason": reason}
        try:
            with transaction.atomic():  # the OneToOne on ``reverses`` is the last word between racing reversals
                reversal = Voucher.objects.create(
                    period=f"{day:%Y-%m}",
                    number=_next_voucher_number(f"{day:%Y-%m}"),
                    date=day,
                    kind=VoucherKind.REVERSAL,
                    summary=summary[:200],
                    amount=original.amount,
                    payout=original.payout,
                    request=original.request,
                    reverses=original,
                    created_at=now,
                    created_by=actor,
                )
        except IntegrityError:
            raise VoucherError(already, code="reversed") from None
        VoucherLine.objects.bulk_create(
            VoucherLine(
                voucher=reversal,
                position=line.position,
                account_code=line.account_code,
                account_name=line.account_name,
                debit=line.credit,
                credit=line.debit,
                memo=line.memo,
            )
            for line in original.lines.order_by("position")
        )
    return reversal
