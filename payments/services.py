"""Paying refunds back, exactly once.

The rules that keep money from moving twice:

* One ``Payout`` per refund while it may still move money (a database constraint), with a
  merchant refund number fixed when it is opened and sent unchanged on every call.
* The payout is marked ``sent`` (committed) before the gateway is called. A payout found
  ``sent`` or ``unknown`` may have reached the gateway, so the gateway is *queried* before any
  further refund call; only a "never heard of it" answer lets the refund be sent again, with
  the same number, which the gateway deduplicates anyway.
* Gateway calls happen outside database transactions; their answers are applied in a new
  transaction that locks the payout and does nothing if it is already final.
* Only a verified answer, query or callback saying the money left moves the request to
  ``refunded``; that transaction also updates the order and records the events: the payout's
  (``payments.events``: finance writes its voucher in the same transaction) and the request's.
* One guard for money out (``payout_guard``): every path that opens or sends a payout (approval,
  the periodic check, sending again, recording a transfer, the first call to the gateway) checks,
  under a lock on the order, that the amount fits in what is left on it: paid − refunded − what
  other payouts have in flight. A payout that would not fit is never sent, and finance is told
  why. The database's ``order_refunded_within_paid`` is the last line, never the first.
* Unknown stays unknown: only a refusal (the payout never paid) or a query's "never heard of
  it" may end a payout as failed or send it again. A query that errs leaves the payout unknown;
  it is queried again with backoff, and after ``PAYOUT_MANUAL_CHECK_AFTER_ATTEMPTS`` calls it is
  raised to finance for a check at the gateway, still never sendable under a new number.
* A request approved with nothing to pay closes (``closed``) and frees its order.
"""

from __future__ import annotations

import datetime
import logging
import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Q, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from orders.models import Order, OrderStatus, PaymentChannel
from refunds.events import refund_event_record
from refunds.models import RefundEvent, RefundEventKind, RefundRequest, RefundStatus
from refunds.payee import payee_clean
from refunds.services import (
    refund_close_nothing_due,
    refund_mark_paying,
    refund_mark_payout_failed,
    refund_mark_refunded,
)
from schoolops.errors import ActionRefused
from schoolops.models import User

from .calendar import expected_arrival
from .callbacks_refused import refused_callback_record
from .events import PayoutEventKind, payout_event_record
from .gateways.base import (
    CallbackNotice,
    GatewayAnswer,
    GatewayError,
    GatewayFinalError,
    GatewayRetryableError,
    Outcome,
    RefundCall,
    RefundStep,
    as_unknown,
    refund_once,
)
from .gateways.config import notify_url
from .gateways.registry import gateway_class, gateway_for, manual_channels
from .models import (
    IN_FLIGHT_PAYOUT_STATES,
    ArrivalKind,
    ExchangeKind,
    Payout,
    PayoutExchange,
    PayoutStatus,
)

logger = logging.getLogger(__name__)


# Orders paid by bank card or offline go back by a transfer finance records by hand: there is
# no acquirer API to call (the registry's manual gateways).
MANUAL_CHANNELS = manual_channels()


class PayoutError(ActionRefused):
    """A refused payout action: nothing changed. ``message`` is for the person who tried."""


class Step:
    """What the caller of ``payout_execute`` should do next."""

    DONE = "done"  # final, or nothing to do
    RETRY = "retry"  # outcome unknown: try again later (query first)
    WAIT = "wait"  # the gateway is processing: check again later
    BUSY = "busy"  # another worker holds the payout


@dataclass(frozen=True)
class CallbackResult:
    accepted: bool
    reason: str = ""


def _lease() -> datetime.timedelta:
    return datetime.timedelta(seconds=settings.PAYOUT_LEASE_SECONDS)


def _new_payout_no(at: datetime.datetime) -> str:
    """PO + Shanghai date + 12 random hex digits: 22 characters, fits every gateway's field."""
    return f"PO{timezone.localtime(at):%Y%m%d}{secrets.token_hex(6).upper()}"


# --- Opening ---------------------------------------------------------------------------------


def payout_on_refund_event(event: RefundEvent) -> None:
    """``refund_event_writer``: an approval opens its payout, in the approval's own transaction."""
    # (An exchange to a course that costs as much or more is approved at 0.00: nothing goes back.)
    if event.kind == RefundEventKind.APPROVED and event.request.approved_amount > 0:
        payout_open(request=event.request, at=event.created_at)


def payout_open(*, request: RefundRequest, at: datetime.datetime) -> Payout:
    """Open the payout of a request that was just approved, in the approval's transaction.

    Online channels are sent to the gateway by a worker after the commit; bank-card and
    offline orders wait for finance to record the transfer. A payout the order no longer covers
    is kept as failed, never sent, and finance is told why (``payout_failed``). (A request approved
    at 0.00 never gets here: refunds closes it.)
    """
    order = request.order
    try:
        payout_guard(order_id=order.pk, amount=request.approved_amount)
    except PayoutError as exc:
        payout = _payout_new(
            request, at=at, status=PayoutStatus.FAILED, finished_at=at, error_code=exc.code, error_message=exc.message
        )
        logger.error("Payout for %s not opened: %s", request.request_no, exc.message)
        _request_payout_failed(request, payout=payout, code=exc.code, message=exc.message, at=at)
        return payout
    payout = _payout_new(request, at=at)
    if order.channel not in MANUAL_CHANNELS:
        transaction.on_commit(lambda: payout_dispatch(payout_id=payout.pk))
    return payout


def _payout_new(request: RefundRequest, *, at: datetime.datetime, **fields: Any) -> Payout:
    """A new payout of the request's approved amount, by the order's channel, under a new number."""
    fields.setdefault("channel", request.order.channel)
    if fields["channel"] in MANUAL_CHANNELS:  # the account she named when applying, if she did
        fields.setdefault("payee_name", request.payee_name)
        fields.setdefault("payee_bank", request.payee_bank)
        fields.setdefault("payee_branch", request.payee_branch)
        fields.setdefault("payee_account_no", request.payee_account_no)
    return Payout.objects.create(
        request=request,
        order=request.order,
        amount=request.approved_amount,
        payout_no=_new_payout_no(at),
        created_at=at,
        **fields,
    )


# Payouts that may have moved money not yet booked on the order: counted against it by the guard.
_MAY_HAVE_PAID = Q(status__in=IN_FLIGHT_PAYOUT_STATES) | Q(status=PayoutStatus.FAILED, needs_check_since__isnull=False)


def payout_guard(*, order_id: int, amount: Decimal, payout_id: int | None = None) -> Order:
    """The one guard for money out. Under a lock on the order (held until the caller's transaction
    ends), ``amount`` must fit in what is left: paid − refunded − what other payouts have in flight
    (queued, sent, unknown, or failed but reported paid since and not yet settled by a query).
    Raises ``PayoutError`` (code ``exceeds_order``) saying why.

    ``payout_id`` is the payout being checked, if it exists already: its own amount is not
    counted as in flight against itself.
    """
    order = Order.objects.select_for_update().get(pk=order_id)
    others = Payout.objects.filter(_MAY_HAVE_PAID, order_id=order_id)
    if payout_id is not None:
        others = others.exclude(pk=payout_id)
    in_flight = others.aggregate(total=Sum("amount", default=Decimal("0.00")))["total"]
    left = max(Decimal("0.00"), order.refundable_remaining - in_flight)
    if amount > left:
        raise PayoutError(
            _(
                "%(amount)s yuan cannot be paid back on order %(order)s: it was paid %(paid)s, %(refunded)s "
                "has been refunded and %(flight)s is on its way back, so only %(left)s is left."
            )
            % {
                "amount": amount,
                "order": order.order_no,
                "paid": order.amount_paid,
                "refunded": order.refunded_total,
                "flight": in_flight,
                "left": left,
            },
            code="exceeds_order",
        )
    return order


def payout_close_unpaid(
    *, request_id: int, actor: User, reason: str, at: datetime.datetime | None = None
) -> RefundRequest:
    """Finance closes a refund whose payment failed when nothing more is owed on it (e.g. the
    order's money was already returned by another request), with a reason the student reads."""
    now = at or timezone.now()
    reason = (reason or "").strip()
    if not reason:
        raise PayoutError(_("Give the reason for closing this refund; the student will read it."), code="reason")
    with transaction.atomic():
        request = _lock_request(request_id)
        if request.status != RefundStatus.PAYOUT_FAILED:
            raise PayoutError(
                _("Only a refund whose payment failed can be closed without payment (it is %(status)s).")
                % {"status": request.get_status_display()},
                code="state",
            )
        if request.payouts.filter(_MAY_HAVE_PAID | Q(status=PayoutStatus.SUCCEEDED)).exists():
            raise PayoutError(
                _("A payment of this refund is in progress, done, or may have been paid; it cannot be closed."),
                code="in_progress",
            )
        refund_close_nothing_due(request=request, actor=actor, at=now, reason=reason)
    return request


def payout_dispatch(*, payout_id: int) -> None:
    """Hand the payout to a worker. If the broker is down the payout stays queued and the
    periodic check sends it later: nothing is lost."""
    from .tasks import execute_payout

    try:
        execute_payout.delay(payout_id)
    except Exception:  # broker down, or an eager run that failed: the periodic check retries
        logger.exception("Could not hand payout %s to a worker now; the periodic check will.", payout_id)


def payout_retry(*, request_id: int, actor: User, at: datetime.datetime | None = None) -> Payout:
    """Finance sends a failed refund again: a new payout with a new number (the old one was
    refused for good, so no money moved under it)."""
    now = at or timezone.now()
    with transaction.atomic():
        request = _lock_request(request_id)
        if request.status != RefundStatus.PAYOUT_FAILED:
            raise PayoutError(_("Only a refund whose payment failed can be sent again."), code="state")
        if request.order.channel in MANUAL_CHANNELS:
            raise PayoutError(_("This order was not paid online: record the bank transfer instead."), code="manual")
        if request.payouts.filter(_MAY_HAVE_PAID).exists():
            raise PayoutError(
                _("A payment of this refund is still in progress; wait for its outcome."), code="in_progress"
            )
        payout_guard(order_id=request.order_id, amount=request.approved_amount)
        payout = _payout_new(request, at=now)
        refund_mark_paying(request=request, actor=actor, at=now, comment=_("Sent again by finance."))
        transaction.on_commit(lambda: payout_dispatch(payout_id=payout.pk))
    return payout


def payout_record_transfer(
    *,
    request_id: int,
    actor: User,
    bank_reference: str,
    transferred_on: datetime.date,
    scan: UploadedFile | None = None,
    at: datetime.datetime | None = None,
) -> Payout:
    """Finance records a bank transfer made by hand: for bank-card and offline orders, or
    instead of a failed online payout. The refund is then complete."""
    now = at or timezone.now()
    bank_reference = bank_reference.strip()
    if not bank_reference:
        raise PayoutError(_("Give the bank's reference for the transfer."), code="reference")
    if transferred_on > timezone.localdate(now):
        raise PayoutError(_("The transfer date cannot be in the future."), code="date")
    with transaction.atomic():
        request = _lock_request(request_id)
        payout = (
            Payout.objects.select_for_update()
            .filter(request=request, status__in=[PayoutStatus.QUEUED, PayoutStatus.SENT, PayoutStatus.UNKNOWN])
            .first()
        )
        if payout is not None and payout.channel not in MANUAL_CHANNELS:
            raise PayoutError(
                _("A payment through %(channel)s is still in progress; wait for its outcome.")
                % {"channel": payout.get_channel_display()},
                code="in_progress",
            )
        if request.status not in (RefundStatus.APPROVED, RefundStatus.PAYOUT_FAILED) or (
            payout is None and request.status == RefundStatus.APPROVED
        ):
            raise PayoutError(
                _("This refund is not waiting for a payment (it is %(status)s).")
                % {"status": request.get_status_display()},
                code="state",
            )
        payout_guard(order_id=request.order_id, amount=request.approved_amount, payout_id=payout.pk if payout else None)
        if payout is None:
            payout = _payout_new(request, at=now, channel=PaymentChannel.OFFLINE)
        payout.bank_reference = bank_reference
        payout.recorded_by = actor
        payout.sent_at = now
        payout.attempts += 1
        if scan is not None:
            payout.transfer_scan = scan
        payout.save()
        refund_mark_paying(request=request, actor=actor, at=now, comment=_("Bank transfer recorded by finance."))
        _exchange(
            payout,
            kind=ExchangeKind.MANUAL,
            outcome=Outcome.SUCCEEDED,
            request_data={"bank_reference": bank_reference, "transferred_on": transferred_on.isoformat()},
            at=now,
        )
        _succeed(
            payout,
            request=request,
            answer=GatewayAnswer(
                outcome=Outcome.SUCCEEDED,
                gateway_refund_id=bank_reference,
                amount=payout.amount,
                arrival=gateway_class(payout.channel).arrival,
            ),
            actor=actor,
            at=now,
            sent_on=transferred_on,
        )
    return payout


def payout_payee_record(
    *,
    payout_id: int,
    actor: User | None,
    name: str,
    bank: str,
    branch: str,
    account_no: str,
) -> Payout:
    """Record the account a transfer made by hand goes to (the student's name, bank, branch and
    card or account number), as the student gave it. Only for a payout still waiting for finance;
    the change is kept in the payout's history."""
    try:
        payee = payee_clean(name=name, bank=bank, branch=branch, account_no=account_no)
    except ValidationError as exc:
        raise PayoutError(" ".join(exc.messages), code="payee") from exc
    with transaction.atomic():
        payout = Payout.objects.select_for_update().filter(pk=payout_id).first()
        if payout is None:
            raise PayoutError(_("No such payout."), code="not_found")
        if payout.channel not in MANUAL_CHANNELS or payout.status != PayoutStatus.QUEUED:
            raise PayoutError(_("Only a payout waiting for a bank transfer takes a payee account."), code="state")
        payout.payee_name, payout.payee_bank = payee.name, payee.bank
        payout.payee_branch, payout.payee_account_no = payee.branch, payee.account_no
        payout._history_user = actor  # type: ignore[attr-defined]  # simple_history's audit of who
        payout.save(update_fields=["payee_name", "payee_bank", "payee_branch", "payee_account_no", "updated_at"])
    return payout


# --- Executing -------------------------------------------------------------------------------


def payout_execute(*, payout_id: int, now: datetime.datetime | None = None) -> str:
    """One attempt at a payout: claim it, ask the gateway, apply the answer. Returns a ``Step``."""
    claimed = _claim(payout_id, now=now or timezone.now())
    if claimed == _RECHECK:
        return payout_recheck(payout_id=payout_id)
    if claimed is None:
        return Step.DONE
    if isinstance(claimed, str):
        return Step.BUSY
    payout, needs_query = claimed
    kinds = {RefundStep.QUERY: ExchangeKind.QUERY, RefundStep.REFUND: ExchangeKind.REFUND}
    try:
        answer = refund_once(
            gateway_for(payout.channel),
            _refund_call(payout),
            needs_query=needs_query,
            record=lambda step, answer: _exchange(payout, kind=kinds[step], answer=answer),
        )
    except GatewayRetryableError as exc:
        _exchange(payout, error=exc, kind=kinds[getattr(exc, "step", RefundStep.REFUND)])
        _mark_unknown(payout.pk, exc)
        return Step.RETRY
    except GatewayFinalError as exc:
        # Only a refund call gets here: the gateway refused it, so no money moved under this number.
        _exchange(payout, error=exc, kind=ExchangeKind.REFUND)
        _fail(payout.pk, code=exc.code, message=exc.message)
        return Step.DONE
    return payout_answer_apply(payout_id=payout.pk, answer=answer)


def payout_recheck(*, payout_id: int) -> str:
    """Settle a payout taken as failed that the gateway has since reported paid: query it, never
    send it. Succeeded: it is booked as paid (the request refunded, the order, the voucher).
    Refused or closed at the gateway: the report is set aside and the failure stands. Anything
    else: it stays flagged for finance."""
    payout = Payout.objects.select_related("order", "request").get(pk=payout_id)
    try:
        answer = gateway_for(payout.channel).query(_refund_call(payout))
    except GatewayError as exc:
        _exchange(payout, error=as_unknown(exc, what="The refund query"), kind=ExchangeKind.QUERY)
        return Step.RETRY
    _exchange(payout, kind=ExchangeKind.QUERY, answer=answer)
    with transaction.atomic():
        payout = _lock_payout(payout_id)
        if payout.status != PayoutStatus.FAILED or payout.needs_check_since is None:
            return Step.DONE
        request = _lock_request(payout.request_id)
        if answer.outcome == Outcome.SUCCEEDED and request.status == RefundStatus.PAYOUT_FAILED:
            try:
                with transaction.atomic():
                    _succeed(payout, request=request, answer=answer)
            except PayoutError as exc:
                logger.error("Payout %s reported paid, not booked: %s", payout.payout_no, exc.message)
                return Step.RETRY
            return Step.DONE
        if answer.outcome == Outcome.FAILED:
            payout.needs_check_since = None
            payout.save(update_fields=["needs_check_since", "updated_at"])
            return Step.DONE
    return Step.RETRY


def payout_answer_apply(*, payout_id: int, answer: GatewayAnswer, actor: User | None = None) -> str:
    """Apply a verified answer (refund call or query) to the payout. Returns a ``Step``."""
    if answer.outcome == Outcome.SUCCEEDED:
        try:
            with transaction.atomic():
                payout = _lock_payout(payout_id)
                if not payout.is_final:
                    _succeed(payout, request=_lock_request(payout.request_id), answer=answer, actor=actor)
        except PayoutError as exc:  # the gateway's amount is not ours: a person must look
            _mark_unknown(payout_id, GatewayError(exc.message, code=exc.code), needs_check=True)
            return Step.RETRY
        return Step.DONE
    if answer.outcome == Outcome.NEEDS_CHECK:
        message = answer.message or _("The gateway reports the refund needs handling there (%(code)s).") % {
            "code": answer.code or "-"
        }
        _mark_unknown(payout_id, GatewayError(message, code=answer.code or "needs_check"), needs_check=True)
        return Step.RETRY
    if answer.outcome == Outcome.FAILED:
        _fail(payout_id, code=answer.code or "closed", message=answer.message)
        return Step.DONE
    # Processing (or, after a refund call, nothing definite): wait for the callback or a check.
    with transaction.atomic():
        payout = _lock_payout(payout_id)
        if not payout.is_final:
            payout.status = PayoutStatus.SENT
            payout.lease_until = None
            if answer.gateway_refund_id:
                payout.gateway_refund_id = answer.gateway_refund_id
            payout.save(update_fields=["status", "lease_until", "gateway_refund_id", "updated_at"])
            return Step.WAIT
    return Step.DONE


def payouts_check(*, now: datetime.datetime | None = None, older_than_seconds: int | None = None) -> int:
    """The periodic check: payouts stuck queued, sent or unknown whose lease ran out are handed
    to a worker again (it queries the gateway first); approved requests that somehow have no
    payout get one. Returns how many were handed on."""
    now = now or timezone.now()
    age = datetime.timedelta(
        seconds=settings.PAYOUT_CHECK_AFTER_SECONDS if older_than_seconds is None else older_than_seconds
    )
    stuck = list(
        Payout.objects.filter(
            status__in=[PayoutStatus.QUEUED, PayoutStatus.SENT, PayoutStatus.UNKNOWN],
            updated_at__lte=now - age,
        )
        .exclude(lease_until__gt=now)
        .exclude(channel__in=MANUAL_CHANNELS)
        .values_list("pk", flat=True)
    )
    nothing_due = RefundRequest.objects.filter(status=RefundStatus.APPROVED, approved_amount__lte=0)
    for request_id in nothing_due.values_list("pk", flat=True):
        with transaction.atomic():
            request = _lock_request(request_id)
            if request.status == RefundStatus.APPROVED and request.approved_amount <= 0:
                refund_close_nothing_due(request=request, actor=None, at=now)
    orphans = RefundRequest.objects.filter(status=RefundStatus.APPROVED, approved_amount__gt=0).exclude(
        payouts__status__in=[PayoutStatus.QUEUED, PayoutStatus.SENT, PayoutStatus.UNKNOWN, PayoutStatus.SUCCEEDED]
    )
    for request_id in orphans.values_list("pk", flat=True):
        with transaction.atomic():
            request = _lock_request(request_id)
            if (
                request.status == RefundStatus.APPROVED
                and not request.payouts.exclude(status=PayoutStatus.FAILED).exists()
            ):
                payout_open(request=request, at=now)
    for payout_id in stuck:
        payout_dispatch(payout_id=payout_id)
    return len(stuck)


# --- Callbacks -------------------------------------------------------------------------------


def payout_callback_apply(
    *, channel: str, notice: CallbackNotice, remote_addr: str | None, body: str
) -> CallbackResult:
    """Apply a callback whose signature the gateway adapter has verified, if it matches our
    payout: same channel, same number, same amount. Anything else is kept and ignored."""
    payout = Payout.objects.select_related("request", "order").filter(payout_no=notice.payout_no).first()
    reason = ""
    if payout is None or payout.channel != channel:
        reason = _("No payout of ours has this merchant refund number on this channel.")
    elif notice.amount is not None and notice.amount != payout.amount:
        reason = _("The amount %(theirs)s does not match our payout of %(ours)s.") % {
            "theirs": notice.amount,
            "ours": payout.amount,
        }
    elif payout.status == PayoutStatus.QUEUED:
        reason = _("The payout was never sent; a callback for it cannot be genuine.")
    if payout is None or reason:
        callback_refuse(channel=channel, reason=reason, payout_no=notice.payout_no, remote_addr=remote_addr, body=body)
        return CallbackResult(accepted=False, reason=reason)
    _exchange(
        payout,
        kind=ExchangeKind.CALLBACK,
        outcome=notice.outcome,
        response_data=notice.raw if isinstance(notice.raw, dict) else {"body": body},
        note="" if not payout.is_final else _("Arrived after the payout was final; nothing changed."),
    )
    if payout.is_final:
        if payout.status == PayoutStatus.FAILED and notice.outcome == Outcome.SUCCEEDED:
            _contradiction_raise(payout, source=_("a verified callback"))
        return CallbackResult(accepted=True, reason="duplicate")
    if notice.amount is None:
        # The notice does not carry this refund's own amount (Alipay's names the trade's
        # refunded total): ask the gateway, and act on its signed answer instead.
        if payout.lease_until is not None and payout.lease_until > timezone.now():
            # Unless a worker holds the payout: it is applying its own call's signed answer right
            # now. Not acknowledged, so the gateway sends the notice again, by when the payout is
            # settled (or, if the worker died, its lease has run out and this query is made then).
            return CallbackResult(accepted=False, reason="worker_busy")
        return _confirm_by_query(payout)
    if notice.outcome in (Outcome.SUCCEEDED, Outcome.FAILED, Outcome.NEEDS_CHECK):
        payout_answer_apply(
            payout_id=payout.pk,
            answer=GatewayAnswer(
                outcome=notice.outcome,
                gateway_refund_id=notice.gateway_refund_id,
                amount=notice.amount,
                arrival=notice.arrival,
                arrival_account=notice.arrival_account,
                code="callback",
                message=_("The gateway reported the refund closed."),
            ),
        )
    return CallbackResult(accepted=True)


def _contradiction_raise(payout: Payout, *, source: str) -> None:
    """The gateway says a payout we took as refused has paid: money may have left twice if it was
    sent again. Nothing is changed automatically; finance is told at once, with the numbers."""
    message = _(
        "%(source)s reports payout %(no)s of %(amount)s yuan as paid, but it was recorded as failed "
        "(%(code)s). Check it at the gateway against any payment sent again for this refund."
    ) % {"source": source, "no": payout.payout_no, "amount": payout.amount, "code": payout.error_code or "-"}
    logger.error(message)
    with transaction.atomic():
        _flag_for_check(_lock_payout(payout.pk), at=timezone.now(), code="contradiction", message=message)


def _confirm_by_query(payout: Payout) -> CallbackResult:
    try:
        answer = gateway_for(payout.channel).query(_refund_call(payout))
    except GatewayError as exc:
        _exchange(payout, error=exc, kind=ExchangeKind.QUERY)
        # Not acknowledged: the gateway sends the notice again later.
        return CallbackResult(accepted=False, reason=exc.message)
    _exchange(payout, kind=ExchangeKind.QUERY, answer=answer)
    if answer.outcome in (Outcome.SUCCEEDED, Outcome.FAILED, Outcome.NEEDS_CHECK):
        payout_answer_apply(payout_id=payout.pk, answer=answer)
    return CallbackResult(accepted=True)


def callback_refuse(*, channel: str, reason: str, payout_no: str = "", remote_addr: str | None, body: str) -> None:
    """Log a refused callback and keep it within bounds: a capped body, so many an hour per
    address (``payments.callbacks_refused``); the caller answers the gateway as usual."""
    refused_callback_record(channel=channel, reason=reason, payout_no=payout_no, remote_addr=remote_addr, body=body)


# --- Internals -------------------------------------------------------------------------------


# What ``_claim`` answers for a failed payout the gateway has since reported paid.
_RECHECK = "recheck"


def _claim(payout_id: int, *, now: datetime.datetime) -> tuple[Payout, bool] | str | None:
    """Take the payout for one attempt. None: nothing to do; Step.BUSY: someone else has it;
    _RECHECK: it failed but was since reported paid, only a query may settle it; else
    (payout, needs_query). Locks in the order every payout path takes: payout, request, order."""
    with transaction.atomic():
        payout = Payout.objects.select_for_update().filter(pk=payout_id).first()
        if payout is not None and payout.status == PayoutStatus.FAILED and payout.needs_check_since is not None:
            return _RECHECK  # reported paid after it failed: only a query may settle it
        if payout is None or payout.is_final or payout.channel in MANUAL_CHANNELS:
            return None
        if payout.lease_until is not None and payout.lease_until > now:
            return Step.BUSY
        request = _lock_request(payout.request_id)
        needs_query = payout.status in (PayoutStatus.SENT, PayoutStatus.UNKNOWN)
        if payout.status == PayoutStatus.QUEUED:
            # Before the first call the order must still cover it. A payout that may have reached
            # the gateway is only ever queried, whatever the order says now.
            # (No savepoint: the guard only reads, and a refusal is ours, not the database's.)
            try:
                payout_guard(order_id=payout.order_id, amount=payout.amount, payout_id=payout.pk)
            except PayoutError as exc:
                _fail_locked(payout, request=request, code=exc.code, message=exc.message, at=now)
                return None
        payout.lease_until = now + _lease()
        payout.attempts += 1
        if payout.status == PayoutStatus.QUEUED:
            payout.status = PayoutStatus.SENT
            payout.sent_at = payout.sent_at or now
        payout.save()
        if request.status == RefundStatus.APPROVED:
            refund_mark_paying(request=request, actor=None, at=now, comment=payout.payout_no)
    payout.request = request
    if payout.order_id == request.order_id:
        payout.order = request.order  # loaded with the request: the refund call reads it
    return payout, needs_query


def _refund_call(payout: Payout) -> RefundCall:
    # An order made by a course exchange keeps the first order's payment: the money goes back
    # against that trade (its number and total), which the gateway knows.
    order = payout.order
    while order.exchanged_from_id is not None:
        order = Order.objects.get(pk=order.exchanged_from_id)
    return RefundCall(
        payout_no=payout.payout_no,
        order_no=order.order_no,
        trade_no=order.gateway_trade_no,
        order_total=order.amount_paid,
        amount=payout.amount,
        reason=_("Refund %(no)s") % {"no": payout.request.request_no},
        notify_url=_notify_url(payout.channel),
    )


def _notify_url(channel: str) -> str:
    route = gateway_class(channel).notify_route()
    return notify_url(reverse(route)) if route else ""


def _lock_payout(payout_id: int) -> Payout:
    return Payout.objects.select_for_update().get(pk=payout_id)


def _lock_request(request_id: int) -> RefundRequest:
    request = (
        RefundRequest.objects.select_for_update(of=("self",))
        .select_related("order", "student__user")
        .filter(pk=request_id)
        .first()
    )
    if request is None:
        raise PayoutError(_("No such refund request."), code="not_found")
    return request


def _mark_unknown(payout_id: int, exc: GatewayError, *, needs_check: bool = False) -> None:
    """The outcome is unknown: keep the payout for the next query. After enough calls, or when the
    gateway says a person must handle it, finance is asked (once) to check it at the gateway."""
    with transaction.atomic():
        payout = _lock_payout(payout_id)
        if payout.is_final:
            return
        payout.status = PayoutStatus.UNKNOWN
        payout.lease_until = None
        payout.error_code = exc.code[:64]
        payout.error_message = exc.message
        payout.save()
        if needs_check or payout.attempts >= settings.PAYOUT_MANUAL_CHECK_AFTER_ATTEMPTS:
            _flag_for_check(
                payout, at=timezone.now(), attempts=payout.attempts, code=payout.error_code, message=exc.message
            )


def _flag_for_check(payout: Payout, *, at: datetime.datetime, **payload: Any) -> None:
    """Ask finance, once, to check a (locked) payout at the gateway, in the caller's transaction."""
    if payout.needs_check_since is not None:
        return
    payout.needs_check_since = at
    payout.save(update_fields=["needs_check_since", "updated_at"])
    _payout_event(payout, kind=RefundEventKind.PAYOUT_NEEDS_CHECK, at=at, **payload)


def _fail(payout_id: int, *, code: str, message: str) -> None:
    """The gateway refused for good: the payout fails, the request waits for finance."""
    with transaction.atomic():
        payout = _lock_payout(payout_id)
        if payout.is_final:
            return
        _fail_locked(payout, request=_lock_request(payout.request_id), code=code, message=message, at=timezone.now())


def _fail_locked(payout: Payout, *, request: RefundRequest, code: str, message: str, at: datetime.datetime) -> None:
    payout.status = PayoutStatus.FAILED
    payout.lease_until = None
    payout.finished_at = at
    payout.error_code = code[:64]
    payout.error_message = message
    payout.save()
    _request_payout_failed(request, payout=payout, code=code, message=message, at=at)


def _request_payout_failed(
    request: RefundRequest, *, payout: Payout, code: str, message: str, at: datetime.datetime
) -> None:
    """The request's payment failed (refused, or never sent by the guard): finance is told why."""
    comment = f"{code}: {message}".strip(": ")
    if refund_mark_payout_failed(request=request, at=at, payout_no=payout.payout_no, comment=comment):
        _payout_event(payout, request=request, kind=RefundEventKind.PAYOUT_FAILED, at=at, code=code, message=message)


def _payout_event(
    payout: Payout, *, kind: str, at: datetime.datetime, request: RefundRequest | None = None, **extra: Any
) -> None:
    """Record a payout's event for finance (failed, needs a check), with its amount, channel and number."""
    refund_event_record(
        request=request or RefundRequest.objects.get(pk=payout.request_id),
        kind=kind,
        actor=None,
        at=at,
        amount=payout.amount,
        channel=payout.channel,
        payout_no=payout.payout_no,
        **extra,
    )


def _succeed(
    payout: Payout,
    *,
    request: RefundRequest,
    answer: GatewayAnswer,
    actor: User | None = None,
    at: datetime.datetime | None = None,
    sent_on: datetime.date | None = None,
) -> None:
    """The money left: payout, request, order, voucher and event, in the caller's transaction."""
    now = at or timezone.now()
    payout.request = request  # the payout event's writers read both (payments.events)
    if payout.order_id == request.order_id:
        payout.order = request.order
    if answer.amount is not None and answer.amount != payout.amount:
        logger.error(
            "Gateway reports %s for payout %s of %s; not applied.", answer.amount, payout.payout_no, payout.amount
        )
        raise PayoutError(_("The gateway reports a different amount; finance must check."), code="amount")
    day = sent_on or timezone.localdate(now)
    kind = answer.arrival or ArrivalKind.BALANCE
    payout.status = PayoutStatus.SUCCEEDED
    payout.lease_until = None
    payout.finished_at = now
    payout.error_code = ""
    payout.error_message = ""
    payout.gateway_refund_id = answer.gateway_refund_id or payout.gateway_refund_id
    payout.arrival_kind = kind
    payout.arrival_account = answer.arrival_account[:100]
    payout.arrival_earliest, payout.arrival_latest = expected_arrival(kind=kind, sent_on=day)
    payout.save()
    refund_mark_refunded(request=request, actor=actor, at=now, comment=payout.gateway_refund_id or payout.payout_no)
    _order_refunded(payout.order_id, amount=payout.amount)
    refund_event_record(
        request=request,
        kind=RefundEventKind.PAYOUT_SUCCEEDED,
        actor=actor,
        at=now,
        amount=payout.amount,
        channel=payout.channel,
        payout_no=payout.payout_no,
        gateway_refund_id=payout.gateway_refund_id,
        arrival_kind=kind,
        arrival_earliest=payout.arrival_earliest,
        arrival_latest=payout.arrival_latest,
    )
    # Last: the voucher takes the month's number under a lock every booking waits for, so it is
    # held only from here to the commit, not while the event's messages are written.
    payout_event_record(kind=PayoutEventKind.SUCCEEDED, payout=payout, actor=actor, at=now)


def _order_refunded(order_id: int, *, amount: Decimal) -> None:
    order = Order.objects.select_for_update().get(pk=order_id)
    order.refunded_total += amount
    order.status = OrderStatus.REFUNDED if order.refunded_total >= order.amount_paid else OrderStatus.PARTIALLY_REFUNDED
    order.save(update_fields=["refunded_total", "status"])


def _exchange(
    payout: Payout,
    *,
    kind: str,
    answer: GatewayAnswer | None = None,
    error: GatewayError | None = None,
    outcome: str = "",
    request_data: dict[str, Any] | None = None,
    response_data: object = None,
    note: str = "",
    at: datetime.datetime | None = None,
) -> None:
    """Keep one exchange with the gateway, raw: an answer, an error, or what a person recorded."""
    error_code = ""
    if answer is not None:
        outcome, request_data, response_data, note = (
            answer.outcome,
            answer.raw_request,
            answer.raw_response,
            answer.message,
        )
    elif error is not None:
        outcome, request_data, response_data, note = "error", error.raw_request, error.raw, error.message
        error_code = error.code[:64]
    PayoutExchange.objects.create(
        payout=payout,
        kind=kind,
        outcome=outcome,
        request_data=request_data or {},
        response_data=_jsonable(response_data),
        error_code=error_code,
        note=note,
        created_at=at or timezone.now(),
    )


def _jsonable(value: object) -> object:
    """A value the JSON field can store: as it is when it can, else its text."""
    if value is None or isinstance(value, dict | list | str | int | float | bool):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
