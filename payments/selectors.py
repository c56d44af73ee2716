"""Reads about payouts that pages share."""

from __future__ import annotations

from django.utils.formats import date_format
from django.utils.translation import gettext as _

from refunds.models import RefundRequest

from .models import ArrivalKind, Payout, PayoutStatus


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
