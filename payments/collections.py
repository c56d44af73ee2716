"""Collecting money from students (收款), exactly once.

The rules that keep a payment from being lost, invented or taken twice:

* One ``Collection`` per payment we ask for, under a merchant order number (``collection_no``,
  the gateways' ``out_trade_no``) fixed when it is recorded and sent unchanged on every call, with
  every other parameter of the trade fixed too: opening it again asks for the same trade, which the
  gateway answers from its books, and a trade can be paid only once. A purpose (an exchange) may
  have several collections; when two are paid, both are recorded as paid and the caller decides
  (``collection_refund_duplicate`` gives one back).
* The collection is committed (``created``) before the gateway is called. Gateway calls happen
  outside database transactions; their answers are applied in a new transaction that locks the
  collection and does nothing if it has moved on. Do not call these services inside a transaction
  of your own: record the collection there with ``collection_prepare`` and send it after the
  commit (``collection_send``), or call ``collection_open`` outside.
* Only a verified notification (signature, our merchant, our number on this channel, our amount)
  or a verified query answer (same checks) marks a collection paid. A notification that fails a
  check is kept in ``RejectedCallback`` (``payments.callbacks_refused``) and changes nothing; a
  repeat of a genuine one is acknowledged and changes nothing.
* Money that came in is never refused after the fact: a payment the gateway reports for a
  collection we had closed or expired (or that failed to open) is recorded as paid, with
  ``paid_after_close``, and the caller hears it through the ``paid`` event.
* Closing and expiring ask the gateway first (paid late? then it is paid), then close the trade
  there, then mark the collection. A gateway that cannot be reached leaves it open for the next
  try (the periodic ``collections_expire``); the gateway itself refuses payment after
  ``expires_at``, which it is told when the trade is opened.
* When the gateway errs while opening: a retryable error (network, HTTP 5xx, SYSTEMERROR) leaves the
  collection ``created`` with the error, to be sent again under the same number
  (``collection_send``) or replaced by a new one; a refusal for good is checked with a query, and
  the collection ``failed`` (the ``open_failed`` event) only when the gateway has no trade under
  the number.
* A duplicate is refunded whole, over its own trade, under a refund number fixed once
  (``refund_no``). A refund that may have reached the gateway is queried before any new call, and
  only "never heard of it" lets the same number be sent again; unknown stays ``refunding`` until a
  query or a verified notification settles it.
* Events (``payments.collection_events``: paid, closed, expired, open_failed, refunded,
  needs_check) are recorded in the transaction of the change they report.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import secrets
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from schoolops.errors import ActionRefused

from .callbacks_refused import refused_callback_record
from .collection_events import collection_event_record
from .gateways.base import (
    CallbackNotice,
    CallbackRejected,
    CollectionAnswer,
    CollectionCall,
    GatewayAnswer,
    GatewayError,
    GatewayFinalError,
    GatewayRetryableError,
    Outcome,
    PaymentNotice,
    PaymentState,
    RefundCall,
    RefundGateway,
    RefundStep,
    as_unknown,
    refund_once,
)
from .gateways.config import notify_url
from .gateways.registry import UnknownChannel, collection_gateway_for, gateway_class, gateway_for
from .models import (
    PAYABLE_COLLECTION_STATES,
    SHUT_COLLECTION_STATES,
    Collection,
    CollectionEventKind,
    CollectionExchange,
    CollectionExchangeKind,
    CollectionStatus,
)
from .services import CallbackResult, _jsonable

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")
PURPOSE_MAX = 32
DESCRIPTION_MAX = 128
RETURN_URL_MAX = 500
# How many overdue collections one run of ``collections_expire`` handles; the next run takes the rest.
EXPIRE_BATCH = 200


class CollectionError(ActionRefused):
    """A refused collection action: nothing changed. ``message`` is for the person (or page) that asked."""


def _new_collection_no(at: datetime.datetime) -> str:
    """CO + Shanghai date + 12 random hex digits: 22 characters, fits every gateway's out_trade_no."""
    return f"CO{timezone.localtime(at):%Y%m%d}{secrets.token_hex(6).upper()}"


def _new_refund_no(at: datetime.datetime) -> str:
    """CR + Shanghai date + 12 random hex digits: the merchant refund number of a duplicate."""
    return f"CR{timezone.localtime(at):%Y%m%d}{secrets.token_hex(6).upper()}"


# --- Opening ---------------------------------------------------------------------------------


def collection_prepare(
    *,
    purpose: str,
    purpose_id: int,
    student: Any,
    campus_id: int,
    amount: Decimal,
    channel: str,
    mode: str,
    description: str,
    expires_at: datetime.datetime,
    client_ip: str = "",
    return_url: str = "",
    at: datetime.datetime | None = None,
) -> Collection:
    """Record a payment to ask for (``created``), without calling the gateway: usable inside the
    caller's transaction. Send it after the commit with ``collection_send``.

    ``student`` is a ``students.Student``; ``mode`` a ``CollectionMode`` of ``channel``;
    ``description`` the goods name the gateway shows (WeChat keeps its first 128 bytes);
    ``client_ip`` the student's address (WeChat H5 requires it); ``return_url`` where the phone's
    browser goes back to after paying (H5, wap). Raises ``CollectionError`` for anything unusable.
    """
    now = at or timezone.now()
    purpose = (purpose or "").strip()
    if not purpose or len(purpose) > PURPOSE_MAX:
        raise CollectionError(_("Name the purpose of the payment in at most 32 characters."), code="purpose")
    if int(purpose_id) < 0:
        raise CollectionError(_("The purpose's id must not be negative."), code="purpose")
    try:
        amount = Decimal(amount)
    except (InvalidOperation, TypeError, ValueError):
        raise CollectionError(_("The amount must be a number of yuan."), code="amount") from None
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(CENT):
        raise CollectionError(
            _("The amount must be more than 0.00 yuan, with at most two decimal places."), code="amount"
        )
    try:
        gateway = collection_gateway_for(channel, mode)
    except UnknownChannel:
        raise CollectionError(
            _("%(channel)s cannot collect payments this way (%(mode)s).") % {"channel": channel, "mode": mode},
            code="mode",
        ) from None
    description = " ".join((description or "").split())[:DESCRIPTION_MAX]
    if not description:
        raise CollectionError(_("Describe what is paid for; the gateway shows it to the student."), code="description")
    if timezone.is_naive(expires_at) or expires_at - now < gateway.collection_min_lifetime:
        minutes = int(gateway.collection_min_lifetime.total_seconds() // 60)
        raise CollectionError(
            ngettext(
                "The payment must stay open for at least %(minutes)d minute.",
                "The payment must stay open for at least %(minutes)d minutes.",
                minutes,
            )
            % {"minutes": minutes},
            code="expires_at",
        )
    if return_url and (len(return_url) > RETURN_URL_MAX or not return_url.startswith(("https://", "http://"))):
        raise CollectionError(_("The address to return to must be a web address."), code="return_url")
    if client_ip:
        try:
            ipaddress.ip_address(client_ip)
        except ValueError:
            raise CollectionError(_("The payer's IP address is not valid."), code="client_ip") from None
    return Collection.objects.create(
        collection_no=_new_collection_no(now),
        purpose=purpose,
        purpose_id=int(purpose_id),
        student=student,
        campus_id=campus_id,
        amount=amount,
        channel=channel,
        mode=mode,
        description=description,
        expires_at=expires_at,
        client_ip=client_ip or None,
        return_url=return_url,
        created_at=now,
    )


def collection_open(
    *,
    purpose: str,
    purpose_id: int,
    student: Any,
    campus_id: int,
    amount: Decimal,
    channel: str,
    mode: str,
    description: str,
    expires_at: datetime.datetime,
    client_ip: str = "",
    return_url: str = "",
    at: datetime.datetime | None = None,
) -> Collection:
    """Record a payment to ask for and ask the gateway for its payment link (outside any
    transaction). ``open`` with ``pay_url`` set on success; ``created`` with ``error_code`` /
    ``error_message`` when the gateway could not be reached or erred (``collection_send`` tries
    again under the same number); ``failed`` when the gateway refused it for good. See
    ``collection_prepare`` for the arguments."""
    with transaction.atomic():
        collection = collection_prepare(
            purpose=purpose,
            purpose_id=purpose_id,
            student=student,
            campus_id=campus_id,
            amount=amount,
            channel=channel,
            mode=mode,
            description=description,
            expires_at=expires_at,
            client_ip=client_ip,
            return_url=return_url,
            at=at,
        )
    return collection_send(collection_id=collection.pk, at=at)


def collection_send(*, collection_id: int, at: datetime.datetime | None = None) -> Collection:
    """Ask the gateway to open the trade of a ``created`` collection (a prepared one, or one whose
    opening erred), with the same number and parameters as ever. Anything else is returned as it is."""
    now = at or timezone.now()
    with transaction.atomic():
        collection = _lock(collection_id)
        if collection.status != CollectionStatus.CREATED:
            return collection
        overdue = collection.expires_at <= now
        if not overdue:
            collection.open_attempts += 1
            collection.save(update_fields=["open_attempts", "updated_at"])
    if overdue:
        return _shut(collection_id, expire=True, now=now)
    gateway = collection_gateway_for(collection.channel, collection.mode)
    call = _collection_call(collection)
    try:
        answer = gateway.collection_create(call)
    except GatewayRetryableError as exc:
        _exchange(collection, kind=CollectionExchangeKind.CREATE, error=exc)
        return _note_error(collection_id, exc)
    except GatewayFinalError as exc:
        _exchange(collection, kind=CollectionExchangeKind.CREATE, error=exc)
        return _open_refused(collection, gateway=gateway, call=call, refusal=exc)
    _exchange(collection, kind=CollectionExchangeKind.CREATE, answer=answer)
    with transaction.atomic():
        collection = _lock(collection_id)
        if collection.status == CollectionStatus.CREATED:
            collection.pay_url = answer.pay_url
            collection.opened_at = timezone.now()
            collection.error_code = ""
            collection.error_message = ""
            collection.open()
            collection.save()
    return collection


def _open_refused(
    collection: Collection, *, gateway: RefundGateway, call: CollectionCall, refusal: GatewayError
) -> Collection:
    """The gateway refused to open the trade. A refusal of a repeat may mean the trade exists
    (paid, or opened with other parameters): only a query saying there is no trade, or a closed
    one, ends the collection as ``failed``."""
    try:
        answer = gateway.collection_query(call)
    except GatewayError as exc:
        _exchange(collection, kind=CollectionExchangeKind.QUERY, error=exc)
        return _note_error(collection.pk, refusal)
    _exchange(collection, kind=CollectionExchangeKind.QUERY, answer=answer)
    if answer.state == PaymentState.PAID:
        return _trade_answer_apply(collection.pk, answer)
    if answer.state == PaymentState.OPEN:
        return _note_error(collection.pk, refusal)  # a trade we cannot show: the expiry closes it
    now = timezone.now()
    with transaction.atomic():
        collection = _lock(collection.pk)
        if collection.status == CollectionStatus.CREATED:
            collection.error_code = refusal.code[:64]
            collection.error_message = refusal.message
            collection.closed_at = now
            collection.fail_to_open()
            collection.save()
            collection_event_record(
                collection=collection,
                kind=CollectionEventKind.OPEN_FAILED,
                at=now,
                code=refusal.code,
                message=refusal.message,
            )
    return collection


# --- Notifications ---------------------------------------------------------------------------


def collection_on_callback(
    *, channel: str, body: bytes, content_type: str, post: dict[str, str], remote_addr: str | None
) -> CallbackResult:
    """A notification at our payment endpoint of ``channel`` (the view's whole work): verified by
    the gateway's adapter, then matched to our collection (number, channel, amount) before it
    changes anything. A payment marks the collection paid once; a refund of a collected trade
    settles its refund. ``accepted`` False asks the gateway to send it again."""
    text = body.decode("utf-8", "replace")
    try:
        notice = gateway_for(channel).parse_collection_callback(body=body, content_type=content_type, post=post)
    except CallbackRejected as exc:
        return _refuse(channel, reason=str(exc), number="", remote_addr=remote_addr, body=text)
    if isinstance(notice, CallbackNotice):
        return _refund_notice_apply(channel, notice, remote_addr=remote_addr, body=text)
    return _payment_notice_apply(channel, notice, remote_addr=remote_addr, body=text)


def _payment_notice_apply(channel: str, notice: PaymentNotice, *, remote_addr: str | None, body: str) -> CallbackResult:
    collection = Collection.objects.filter(collection_no=notice.collection_no).first()
    reason = ""
    if collection is None or collection.channel != channel:
        reason = _("No collection of ours has this merchant order number on this channel.")
    elif notice.state == PaymentState.PAID and notice.amount != collection.amount:
        reason = _("The amount %(theirs)s does not match our collection of %(ours)s.") % {
            "theirs": notice.amount,
            "ours": collection.amount,
        }
    elif collection.open_attempts == 0:
        reason = _("The collection was never sent to the gateway; a notification for it cannot be genuine.")
    if collection is None or reason:
        return _refuse(channel, reason=reason, number=notice.collection_no, remote_addr=remote_addr, body=body)
    now = timezone.now()
    with transaction.atomic():
        collection = _lock(collection.pk)
        note = ""
        if notice.state != PaymentState.PAID:
            note = _("Not a payment (%(state)s); nothing changed.") % {"state": notice.state}
        elif collection.is_paid:
            note = _("Arrived after the payment was recorded; nothing changed.")
            if notice.gateway_trade_no and notice.gateway_trade_no != collection.gateway_trade_no:
                logger.error(
                    "Collection %s: a notification names trade %s, the payment was recorded as %s.",
                    collection.collection_no,
                    notice.gateway_trade_no,
                    collection.gateway_trade_no,
                )
        _exchange(
            collection,
            kind=CollectionExchangeKind.CALLBACK,
            outcome=notice.state,
            response_data=notice.raw if isinstance(notice.raw, dict) else {"body": body},
            note=note,
            at=now,
        )
        if note:
            return CallbackResult(accepted=True, reason="duplicate" if collection.is_paid else "")
        _paid(
            collection,
            amount=notice.amount,
            gateway_trade_no=notice.gateway_trade_no,
            paid_at=notice.paid_at,
            payer=notice.payer,
            at=now,
        )
    return CallbackResult(accepted=True)


def _refund_notice_apply(channel: str, notice: CallbackNotice, *, remote_addr: str | None, body: str) -> CallbackResult:
    """A refund of a collected trade (a duplicate given back): a verified notice with this refund's
    own amount settles it; one without (Alipay names the trade's refunded total) is confirmed by
    a query."""
    collection = (
        Collection.objects.filter(refund_no=notice.payout_no, channel=channel).exclude(refund_no="").first()
        if notice.payout_no
        else None
    )
    reason = ""
    if collection is None:
        reason = _("No collection of ours has this merchant refund number on this channel.")
    elif notice.amount is not None and notice.amount != collection.paid_amount:
        reason = _("The refunded amount %(theirs)s does not match our payment of %(ours)s.") % {
            "theirs": notice.amount,
            "ours": collection.paid_amount,
        }
    if collection is None or reason:
        return _refuse(channel, reason=reason, number=notice.payout_no, remote_addr=remote_addr, body=body)
    settled = collection.status != CollectionStatus.REFUNDING
    _exchange(
        collection,
        kind=CollectionExchangeKind.CALLBACK,
        outcome=notice.outcome,
        response_data=notice.raw if isinstance(notice.raw, dict) else {"body": body},
        note=_("Arrived after the refund was settled; nothing changed.") if settled else "",
    )
    if settled:
        return CallbackResult(accepted=True, reason="duplicate")
    if notice.amount is None:
        try:
            answer = gateway_for(channel).query(_refund_call(collection))
        except GatewayError as exc:
            error = as_unknown(exc, what="The refund query")
            _exchange(collection, kind=CollectionExchangeKind.REFUND_QUERY, error=error)
            return CallbackResult(accepted=False, reason=error.message)  # the gateway sends it again later
        _exchange(collection, kind=CollectionExchangeKind.REFUND_QUERY, answer=answer)
        if answer.outcome in (Outcome.SUCCEEDED, Outcome.FAILED, Outcome.NEEDS_CHECK):
            _refund_answer_apply(collection.pk, answer)
        return CallbackResult(accepted=True)
    _refund_answer_apply(
        collection.pk,
        GatewayAnswer(
            outcome=notice.outcome,
            gateway_refund_id=notice.gateway_refund_id,
            amount=notice.amount,
            code="callback",
            message=_("The gateway reported the refund closed."),
        ),
    )
    return CallbackResult(accepted=True)


def _refuse(channel: str, *, reason: str, number: str, remote_addr: str | None, body: str) -> CallbackResult:
    refused_callback_record(channel=channel, reason=reason, payout_no=number, remote_addr=remote_addr, body=body)
    return CallbackResult(accepted=False, reason=reason)


# --- Asking, closing, expiring -----------------------------------------------------------------


def collection_query(*, collection_id: int, at: datetime.datetime | None = None) -> Collection:
    """Settle what is unknown by asking the gateway: whether the trade was paid (a lost
    notification, a late payment), or what became of a refund in progress. A paid or refunded
    collection is returned as it is; one never sent has nothing to ask about."""
    now = at or timezone.now()
    collection = Collection.objects.get(pk=collection_id)
    if collection.status == CollectionStatus.REFUNDING:
        with transaction.atomic():
            collection = _lock(collection_id)
            if collection.status != CollectionStatus.REFUNDING:
                return collection
            collection.refund_attempts += 1
            collection.save(update_fields=["refund_attempts", "updated_at"])
        return _refund_send(collection, needs_query=True)
    if collection.is_paid or collection.open_attempts == 0:
        return collection
    gateway = collection_gateway_for(collection.channel, collection.mode)
    try:
        answer = gateway.collection_query(_collection_call(collection))
    except GatewayError as exc:
        _exchange(collection, kind=CollectionExchangeKind.QUERY, error=exc)
        return _note_error(collection_id, exc)
    _exchange(collection, kind=CollectionExchangeKind.QUERY, answer=answer)
    return _trade_answer_apply(collection_id, answer, now=now)


def collection_close(*, collection_id: int, at: datetime.datetime | None = None) -> Collection:
    """The caller no longer wants this payment: ask the gateway first (paid meanwhile? then it is
    ``paid``), close the trade there, then mark it ``closed``. When the gateway cannot be reached
    it stays as it was (``error_code`` says why): try again, or let it expire. Anything not
    payable is returned as it is."""
    return _shut(collection_id, expire=False, now=at or timezone.now())


def collections_expire(*, now: datetime.datetime | None = None) -> int:
    """The periodic job: collections past ``expires_at`` still payable are asked about first (paid
    late? then ``paid``), closed at the gateway, then marked ``expired``. Returns how many expired;
    those the gateway could not be asked about are tried again next time."""
    now = now or timezone.now()
    overdue = list(
        Collection.objects.filter(status__in=PAYABLE_COLLECTION_STATES, expires_at__lte=now)
        .order_by("expires_at", "pk")
        .values_list("pk", flat=True)[:EXPIRE_BATCH]
    )
    expired = 0
    for collection_id in overdue:
        if _shut(collection_id, expire=True, now=now).status == CollectionStatus.EXPIRED:
            expired += 1
    return expired


def _shut(collection_id: int, *, expire: bool, now: datetime.datetime) -> Collection:
    collection = Collection.objects.get(pk=collection_id)
    if not collection.is_payable:
        return collection
    if collection.open_attempts > 0:  # the gateway may have a trade: ask, then close it there
        gateway = collection_gateway_for(collection.channel, collection.mode)
        call = _collection_call(collection)
        try:
            answer = gateway.collection_query(call)
        except GatewayError as exc:
            _exchange(collection, kind=CollectionExchangeKind.QUERY, error=exc)
            return _note_error(collection_id, exc)
        _exchange(collection, kind=CollectionExchangeKind.QUERY, answer=answer)
        if answer.state == PaymentState.PAID:
            return _trade_answer_apply(collection_id, answer, now=now)
        if answer.state != PaymentState.CLOSED:
            try:
                answer = gateway.collection_close(call)
            except GatewayError as exc:
                _exchange(collection, kind=CollectionExchangeKind.CLOSE, error=exc)
                return _note_error(collection_id, exc)
            _exchange(collection, kind=CollectionExchangeKind.CLOSE, answer=answer)
            if answer.state == PaymentState.PAID:
                return _trade_answer_apply(collection_id, answer, now=now)
            if answer.state == PaymentState.OPEN:
                return _note_error(collection_id, GatewayRetryableError("The gateway did not close the trade."))
    with transaction.atomic():
        collection = _lock(collection_id)
        if collection.is_payable:
            _shut_locked(collection, expire=expire, now=now)
    return collection


def _shut_locked(collection: Collection, *, expire: bool, now: datetime.datetime) -> None:
    if expire:
        collection.expire()
    else:
        collection.close()
    collection.closed_at = now
    collection.save()
    collection_event_record(
        collection=collection,
        kind=CollectionEventKind.EXPIRED if expire else CollectionEventKind.CLOSED,
        at=now,
    )


def _trade_answer_apply(
    collection_id: int, answer: CollectionAnswer, *, now: datetime.datetime | None = None
) -> Collection:
    """Apply a verified query (or close) answer: PAID marks the collection paid (late, if we had
    closed it); CLOSED at the gateway closes (or expires) a payable one; anything else changes nothing."""
    now = now or timezone.now()
    with transaction.atomic():
        collection = _lock(collection_id)
        if answer.state == PaymentState.PAID:
            _paid(
                collection,
                amount=answer.amount,
                gateway_trade_no=answer.gateway_trade_no,
                paid_at=answer.paid_at,
                payer=answer.payer,
                at=now,
            )
        elif answer.state == PaymentState.CLOSED and collection.is_payable:
            _shut_locked(collection, expire=now >= collection.expires_at, now=now)
    return collection


def _paid(
    collection: Collection,
    *,
    amount: Decimal | None,
    gateway_trade_no: str,
    paid_at: datetime.datetime | None,
    payer: str,
    at: datetime.datetime,
) -> None:
    """The money came in (the collection is locked): paid, and the ``paid`` event, unless it was
    recorded already. An amount that is not ours is not booked: a person checks it at the gateway."""
    if collection.is_paid:
        return
    if amount != collection.amount:
        _flag(
            collection,
            at=at,
            code="amount",
            message=_("The gateway reports %(theirs)s paid on collection %(no)s of %(ours)s; not booked.")
            % {"theirs": amount, "no": collection.collection_no, "ours": collection.amount},
        )
        return
    late = collection.status in SHUT_COLLECTION_STATES
    collection.pay()
    collection.paid_at = paid_at or at
    collection.paid_amount = amount
    collection.gateway_trade_no = gateway_trade_no[:64]
    collection.payer_account = payer[:100]
    collection.paid_after_close = late
    collection.error_code = ""
    collection.error_message = ""
    collection.save()
    if late:
        logger.warning("Collection %s was paid after it was closed or expired.", collection.collection_no)
    collection_event_record(
        collection=collection,
        kind=CollectionEventKind.PAID,
        at=at,
        paid_amount=amount,
        gateway_trade_no=collection.gateway_trade_no,
        paid_at=collection.paid_at,
        paid_after_close=late,
    )


# --- Refunding a duplicate --------------------------------------------------------------------


def collection_refund_duplicate(*, collection_id: int, reason: str, at: datetime.datetime | None = None) -> Collection:
    """Give a whole paid collection back over its own trade (the caller decided it is not wanted,
    e.g. a second payment for the same exchange), exactly once: the refund number is fixed the first
    time and sent unchanged; a refund that may have reached the gateway is queried before any new
    call. Returns the collection: ``refunded`` when the gateway confirmed it; ``refunding`` while
    it is on its way or its outcome is unknown (a query settles it: ``collection_query``, or the
    periodic ``collection_refunds_check``); ``paid`` with ``needs_check_since`` when the gateway
    refused it (a person looks; calling this again asks the gateway first). Repeating the call is
    safe. Raises ``CollectionError`` when the collection was not paid."""
    now = at or timezone.now()
    reason = " ".join((reason or "").split())
    if not reason:
        raise CollectionError(_("Give the reason for refunding this payment."), code="reason")
    with transaction.atomic():
        collection = _lock(collection_id)
        if collection.status == CollectionStatus.REFUNDED:
            return collection
        if collection.status == CollectionStatus.PAID:
            if not collection.refund_no:
                collection.refund_no = _new_refund_no(now)
            collection.refund_reason = reason[:200]
            collection.start_refund()
        elif collection.status != CollectionStatus.REFUNDING:
            raise CollectionError(
                _("Only a paid collection can be refunded (it is %(status)s).")
                % {"status": collection.get_status_display()},
                code="state",
            )
        needs_query = collection.refund_attempts > 0
        collection.refund_attempts += 1
        collection.save()
    return _refund_send(collection, needs_query=needs_query)


def collection_refunds_check(*, now: datetime.datetime | None = None) -> int:
    """The periodic job: refunds of duplicates still ``refunding`` after
    ``COLLECTION_REFUND_CHECK_AFTER_SECONDS`` are queried (and sent again under the same number only
    if the gateway never heard of them). Returns how many were asked about."""
    now = now or timezone.now()
    age = datetime.timedelta(seconds=settings.COLLECTION_REFUND_CHECK_AFTER_SECONDS)
    waiting = list(
        Collection.objects.filter(status=CollectionStatus.REFUNDING, updated_at__lte=now - age)
        .order_by("updated_at", "pk")
        .values_list("pk", flat=True)[:EXPIRE_BATCH]
    )
    for collection_id in waiting:
        collection_query(collection_id=collection_id, at=now)
    return len(waiting)


def _refund_send(collection: Collection, *, needs_query: bool) -> Collection:
    """One attempt at the refund of a ``refunding`` collection: query first when it may have reached
    the gateway, and send it (under the same number) only if the gateway never heard of it."""
    kinds = {RefundStep.QUERY: CollectionExchangeKind.REFUND_QUERY, RefundStep.REFUND: CollectionExchangeKind.REFUND}
    try:
        answer = refund_once(
            gateway_for(collection.channel),
            _refund_call(collection),
            needs_query=needs_query,
            record=lambda step, answer: _exchange(collection, kind=kinds[step], answer=answer),
        )
    except GatewayRetryableError as exc:
        _exchange(collection, kind=kinds[getattr(exc, "step", RefundStep.REFUND)], error=exc)
        return _note_error(collection.pk, exc)
    except GatewayFinalError as exc:
        # Only a refund call gets here: the gateway refused it, so no money moved under the number.
        _exchange(collection, kind=CollectionExchangeKind.REFUND, error=exc)
        answer = GatewayAnswer(outcome=Outcome.FAILED, code=exc.code, message=exc.message)
    return _refund_answer_apply(collection.pk, answer)


def _refund_answer_apply(collection_id: int, answer: GatewayAnswer) -> Collection:
    """Apply a verified refund answer (call, query or notification) to a ``refunding`` collection."""
    now = timezone.now()
    with transaction.atomic():
        collection = _lock(collection_id)
        if collection.status != CollectionStatus.REFUNDING:
            return collection
        if answer.gateway_refund_id:
            collection.gateway_refund_id = answer.gateway_refund_id[:64]
        if answer.outcome == Outcome.SUCCEEDED:
            if answer.amount is not None and answer.amount != collection.paid_amount:
                collection.save()
                _flag(
                    collection,
                    at=now,
                    code="refund_amount",
                    message=_("The gateway reports %(theirs)s refunded on collection %(no)s of %(ours)s.")
                    % {"theirs": answer.amount, "no": collection.collection_no, "ours": collection.paid_amount},
                )
                return collection
            collection.confirm_refund()
            collection.refunded_at = now
            collection.error_code = ""
            collection.error_message = ""
            collection.needs_check_since = None  # a refusal before, if any, is settled
            collection.save()
            collection_event_record(
                collection=collection,
                kind=CollectionEventKind.REFUNDED,
                at=now,
                refund_no=collection.refund_no,
                gateway_refund_id=collection.gateway_refund_id,
                refunded_amount=collection.paid_amount,
            )
        elif answer.outcome == Outcome.FAILED:
            collection.refund_refused()
            collection.save()
            message = answer.message or _("The gateway refused the refund (%(code)s).") % {"code": answer.code or "-"}
            _flag(collection, at=now, code=answer.code or "refund_refused", message=message)
        elif answer.outcome == Outcome.NEEDS_CHECK:
            collection.save()
            message = answer.message or _("The gateway reports the refund needs handling there (%(code)s).") % {
                "code": answer.code or "-"
            }
            _flag(collection, at=now, code=answer.code or "needs_check", message=message)
        else:  # processing: the notification or the next query tells
            collection.error_code = ""
            collection.error_message = ""
            collection.save()
    return collection


# --- Internals -------------------------------------------------------------------------------


def _lock(collection_id: int) -> Collection:
    collection = Collection.objects.select_for_update().filter(pk=collection_id).first()
    if collection is None:
        raise CollectionError(_("No such collection."), code="not_found")
    return collection


def _collection_call(collection: Collection) -> CollectionCall:
    return CollectionCall(
        collection_no=collection.collection_no,
        amount=collection.amount,
        mode=collection.mode,
        description=collection.description,
        notify_url=_pay_notify_url(collection.channel),
        started_at=collection.created_at,
        expires_at=collection.expires_at,
        client_ip=collection.client_ip or "",
        return_url=collection.return_url,
    )


def _refund_call(collection: Collection) -> RefundCall:
    paid = collection.paid_amount if collection.paid_amount is not None else collection.amount
    return RefundCall(
        payout_no=collection.refund_no,
        order_no=collection.collection_no,
        trade_no=collection.gateway_trade_no,
        order_total=paid,
        amount=paid,
        reason=collection.refund_reason,
        # Our payment endpoint takes the refund's notification too (Alipay sends it there anyway).
        notify_url=_pay_notify_url(collection.channel),
    )


def _pay_notify_url(channel: str) -> str:
    route = gateway_class(channel).collection_notify_route()
    return notify_url(reverse(route)) if route else ""


def _note_error(collection_id: int, exc: GatewayError) -> Collection:
    """The gateway could not say (or refused): keep why on the collection, change nothing else."""
    with transaction.atomic():
        collection = _lock(collection_id)
        if collection.status in (CollectionStatus.CREATED, CollectionStatus.OPEN, CollectionStatus.REFUNDING):
            collection.error_code = (exc.code or "error")[:64]
            collection.error_message = exc.message
            collection.save(update_fields=["error_code", "error_message", "updated_at"])
    return collection


def _flag(collection: Collection, *, at: datetime.datetime, code: str, message: str) -> None:
    """Ask a person, once, to check a (locked) collection at the gateway, in the caller's transaction."""
    logger.error("Collection %s needs a check: %s", collection.collection_no, message)
    collection.error_code = code[:64]
    collection.error_message = message
    first = collection.needs_check_since is None
    if first:
        collection.needs_check_since = at
    collection.save(update_fields=["error_code", "error_message", "needs_check_since", "updated_at"])
    if first:
        collection_event_record(
            collection=collection, kind=CollectionEventKind.NEEDS_CHECK, at=at, code=code, message=message
        )


def _exchange(
    collection: Collection,
    *,
    kind: str,
    answer: CollectionAnswer | GatewayAnswer | None = None,
    error: GatewayError | None = None,
    outcome: str = "",
    request_data: dict[str, Any] | None = None,
    response_data: object = None,
    note: str = "",
    at: datetime.datetime | None = None,
) -> None:
    """Keep one exchange with the gateway, raw: an answer, an error, or a notification."""
    error_code = ""
    if isinstance(answer, CollectionAnswer):
        outcome, request_data, response_data = answer.state, answer.raw_request, answer.raw_response
        note = note or answer.message
    elif answer is not None:
        outcome, request_data, response_data = answer.outcome, answer.raw_request, answer.raw_response
        note = note or answer.message
    elif error is not None:
        outcome, request_data, response_data, note = "error", error.raw_request, error.raw, error.message
        error_code = error.code[:64]
    CollectionExchange.objects.create(
        collection=collection,
        kind=kind,
        outcome=outcome[:20],
        request_data=request_data or {},
        response_data=_jsonable(response_data),
        error_code=error_code,
        note=note,
        created_at=at or timezone.now(),
    )
