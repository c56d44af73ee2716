"""Reads about payouts and collections that pages share."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from refunds.models import RefundRequest

from .gateways.registry import manual_channels
from .models import (
    PAYABLE_COLLECTION_STATES,
    ArrivalKind,
    Collection,
    CollectionEvent,
    CollectionStatus,
    Payout,
    PayoutStatus,
)

# Shown instead of "Queued" for a payout that waits for finance's transfer, not for a worker.
AWAITING_TRANSFER = gettext_lazy("Awaiting finance's bank transfer")


def payout_awaits_finance(payout: Payout) -> bool:
    """Nothing happens to the payout until finance makes the bank transfer and records it:
    a bank-card or offline order's payout, still queued."""
    return payout.status == PayoutStatus.QUEUED and payout.channel in manual_channels()


def payout_state_display(payout: Payout) -> str:
    """The payout's status as finance reads it: "awaiting finance's bank transfer" where finance
    must act, otherwise the status itself."""
    return str(AWAITING_TRANSFER) if payout_awaits_finance(payout) else str(payout.get_status_display())


def payout_arrival_note(*, refund_request: RefundRequest) -> str:
    """What the student is told about her money once the gateway confirmed it ("" before)."""
    payout = (
        Payout.objects.filter(request=refund_request, status=PayoutStatus.SUCCEEDED).order_by("-finished_at").first()
    )
    if payout is None or payout.arrival_earliest is None:
        return ""
    values = {
        "amount": payout.amount,
        "channel": payout.get_channel_display(),
        "date": date_format(payout.arrival_earliest, "Y-m-d"),
        "latest": date_format(payout.arrival_latest or payout.arrival_earliest, "Y-m-d"),
    }
    if payout.arrival_kind == ArrivalKind.BALANCE:
        return _("¥%(amount)s went back to your %(channel)s balance on %(date)s.") % values
    if payout.arrival_kind == ArrivalKind.BANK_CARD:
        return (
            _("¥%(amount)s went back to your bank card; your bank should show it between %(date)s and %(latest)s.")
            % values
        )
    return _("¥%(amount)s was sent by bank transfer; expect it between %(date)s and %(latest)s.") % values


# --- Collections -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CollectionDisplay:
    """What the student's payment page shows and polls for."""

    collection_no: str
    status: str  # ``CollectionStatus``; "open" only while it can still be paid
    status_label: str
    amount: Decimal
    channel: str
    channel_label: str
    mode: str
    mode_label: str
    description: str
    pay_url: str  # "" unless it can be paid now
    expires_at: datetime.datetime
    seconds_left: int  # 0 unless it can be paid now
    paid_at: datetime.datetime | None
    payable: bool  # show the QR code / the pay button
    final: bool  # stop polling
    message: str  # one sentence for the student


def collection_for_display(
    *, student: Any, collection_no: str, now: datetime.datetime | None = None
) -> CollectionDisplay | None:
    """The student's own collection by number, as her payment page shows it; None when it is not
    hers (or does not exist). A collection past its time is shown expired even before the periodic
    job closes it; one still being opened shows no link yet (poll again)."""
    now = now or timezone.now()
    collection = Collection.objects.filter(student=student, collection_no=collection_no).first()
    if collection is None:
        return None
    return collection_display(collection, now=now)


def collection_display(collection: Collection, *, now: datetime.datetime | None = None) -> CollectionDisplay:
    """``collection_for_display`` for a collection already loaded (and checked to be the viewer's)."""
    now = now or timezone.now()
    status = collection.status
    overdue = collection.is_payable and collection.expires_at <= now
    if overdue:
        status = CollectionStatus.EXPIRED
    payable = status == CollectionStatus.OPEN and bool(collection.pay_url)
    values = {
        "amount": collection.amount,
        "time": date_format(timezone.localtime(collection.expires_at), "Y-m-d H:i"),
        "channel": collection.get_channel_display(),
    }
    if payable:
        message = _("Pay ¥%(amount)s with %(channel)s before %(time)s.") % values
    elif status == CollectionStatus.CREATED and collection.error_code:
        message = _("The payment code could not be made just now. Please try again in a moment.")
    elif status == CollectionStatus.CREATED:
        message = _("Preparing your payment code…")
    elif status in (CollectionStatus.PAID, CollectionStatus.REFUNDING, CollectionStatus.REFUNDED):
        message = _("¥%(amount)s received. Thank you!") % values
        if status == CollectionStatus.REFUNDING:
            message = _("This payment was made twice; ¥%(amount)s is on its way back to you.") % values
        elif status == CollectionStatus.REFUNDED:
            message = _("This payment was made twice; ¥%(amount)s went back to your %(channel)s.") % values
    elif status == CollectionStatus.EXPIRED:
        message = _("This payment code has expired. Ask for a new one if you still want to pay.")
    elif status == CollectionStatus.FAILED:
        message = _("The payment could not be opened. Please choose another way to pay or try again later.")
    else:
        message = _("This payment was cancelled; nothing was charged.")
    return CollectionDisplay(
        collection_no=collection.collection_no,
        status=status,
        status_label=str(CollectionStatus(status).label),
        amount=collection.amount,
        channel=collection.channel,
        channel_label=str(collection.get_channel_display()),
        mode=collection.mode,
        mode_label=str(collection.get_mode_display()),
        description=collection.description,
        pay_url=collection.pay_url if payable else "",
        expires_at=collection.expires_at,
        seconds_left=max(0, int((collection.expires_at - now).total_seconds())) if payable else 0,
        paid_at=collection.paid_at,
        payable=payable,
        final=status not in PAYABLE_COLLECTION_STATES and status != CollectionStatus.REFUNDING,
        message=message,
    )


def collections_for(*, purpose: str, purpose_id: int) -> QuerySet[Collection]:
    """Every collection asked for ``purpose`` / ``purpose_id``, newest first."""
    return Collection.objects.filter(purpose=purpose, purpose_id=purpose_id).order_by("-created_at", "-pk")


def collection_events_since(
    *, purpose: str, after_id: int = 0, kinds: tuple[str, ...] | None = None
) -> QuerySet[CollectionEvent]:
    """Collection events of ``purpose`` after the event ``after_id``, oldest first, with their
    collection: for a caller's periodic check that catches what a failed writer missed."""
    events = CollectionEvent.objects.filter(collection__purpose=purpose, pk__gt=after_id).select_related("collection")
    if kinds:
        events = events.filter(kind__in=kinds)
    return events.order_by("pk")
