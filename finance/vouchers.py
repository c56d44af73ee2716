"""Vouchers (记账凭证) of the money paid back: one per payout that succeeded, numbered within the
month without gaps, never edited; a correction is a reversing voucher.

Payments does not call finance: it records a payout event (``payments.events``) in the
transaction that books the payout as paid, and ``voucher_on_payout_event`` (registered in
``FinanceConfig.ready``) writes the voucher in that same transaction, so a payout is never
booked without its voucher nor a voucher written for money that did not leave.
"""

from __future__ import annotations

import datetime
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
    from schoolops.models import User

# The debit line of every refund voucher (small-business standard codes); the credit line is the
# account the money left from, which each gateway names (``RefundGateway.ledger_account``).
CONTRACT_LIABILITY = ("2203", "合同负债-预收学费")


class VoucherError(ActionRefused):
    """A refused voucher action: nothing changed. ``message`` is for the person who tried."""


def voucher_on_payout_event(event: PayoutEvent) -> None:
    """``payout_event_writer``: a payout that succeeded gets its voucher, in the booking's transaction."""
    if event.kind == PayoutEventKind.SUCCEEDED:
        voucher_for_payout(payout=event.payout, at=event.at, actor=event.actor)


def voucher_for_payout(*, payout: Payout, at: datetime.datetime, actor: User | None = None) -> Voucher:
    """The refund voucher: debit the unearned tuition, credit the account the money left from.
    Numbered within the month under a row lock, so numbers have no gaps or duplicates."""
    day = timezone.localdate(at)
    request = payout.request
    credit_code, credit_name = gateway_class(payout.channel).ledger_account
    summary = _("Refund %(request)s, order %(order)s, %(student)s") % {
        "request": request.request_no,
        "order": payout.order.order_no,
        "student": request.student.user.name or request.student.user.username,
    }
    voucher = Voucher.objects.create(
        period=f"{day:%Y-%m}",
        number=_next_voucher_number(f"{day:%Y-%m}"),
        date=day,
        kind=VoucherKind.REFUND,
        summary=summary[:200],
        amount=payout.amount,
        payout=payout,
        created_at=at,
        created_by=actor,
    )
    memo = f"{payout.payout_no} {payout.gateway_refund_id}".strip()
    VoucherLine.objects.bulk_create(
        [
            VoucherLine(
                voucher=voucher,
                position=1,
                account_code=CONTRACT_LIABILITY[0],
                account_name=CONTRACT_LIABILITY[1],
                debit=payout.amount,
                memo=memo,
            ),
            VoucherLine(
                voucher=voucher,
                position=2,
                account_code=credit_code,
                account_name=credit_name,
                credit=payout.amount,
                memo=memo,
            ),
        ]
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
