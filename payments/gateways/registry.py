"""Which gateway pays a refund back, by the order's payment channel.

A new channel is one module in this package (a ``RefundGateway`` subclass, see ``base``) and
one line in ``GATEWAYS`` below: its callback URL, voucher account, arrival wording and statement
follow from the class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .alipay import AlipayGateway
from .base import RefundGateway
from .card import CardGateway
from .offline import OfflineGateway
from .statements import StatementFormat
from .wechat import WeChatPayGateway

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

GATEWAYS: dict[str, type[RefundGateway]] = {
    gateway.channel: gateway
    for gateway in (
        WeChatPayGateway,
        AlipayGateway,
        CardGateway,
        OfflineGateway,
    )
}


class UnknownChannel(KeyError):
    """No gateway is registered for this payment channel."""

    def __str__(self) -> str:  # KeyError would show the repr of its argument
        return str(self.args[0]) if self.args else ""


def gateway_class(channel: str) -> type[RefundGateway]:
    """The gateway class of ``channel`` (wechat, alipay, card, offline); ``UnknownChannel`` otherwise."""
    try:
        return GATEWAYS[channel]
    except KeyError:
        known = ", ".join(sorted(GATEWAYS))
        raise UnknownChannel(f"No refund gateway for payment channel {channel!r} (known: {known}).") from None


def gateway_for(channel: str) -> RefundGateway:
    """A fresh gateway for ``channel``; ``UnknownChannel`` otherwise."""
    return gateway_class(channel)()


def collection_gateway_for(channel: str, mode: str) -> RefundGateway:
    """A fresh gateway that collects by ``mode`` on ``channel``; ``UnknownChannel`` otherwise."""
    gateway = gateway_class(channel)
    if mode not in gateway.collection_modes:
        modes = ", ".join(gateway.collection_modes) or "none"
        raise UnknownChannel(f"Payment channel {channel!r} does not collect by {mode!r} (its modes: {modes}).")
    return gateway()


def collection_channels() -> dict[str, tuple[str, ...]]:
    """The channels that collect money, with their ``CollectionMode`` values."""
    return {channel: gateway.collection_modes for channel, gateway in GATEWAYS.items() if gateway.collection_modes}


def manual_channels() -> tuple[str, ...]:
    """The channels whose payouts a person records by hand (a bank transfer): no API to call."""
    return tuple(channel for channel, gateway in GATEWAYS.items() if gateway.manual)


def arrival_note(channel: str) -> str:
    """What the student is told, before the payout, about when money paid by ``channel`` arrives."""
    return str(gateway_class(channel).arrival_note)


# --- Statements finance reconciles -------------------------------------------------------------


def statement_formats() -> dict[str, tuple[str, StatementFormat]]:
    """Every gateway statement by kind: (the channel it reports on, its format)."""
    return {
        gateway.statement.kind: (channel, gateway.statement)
        for channel, gateway in GATEWAYS.items()
        if gateway.statement is not None
    }


def statement_kind_choices() -> list[tuple[str, StrOrPromise]]:
    """The statement kinds as model and form choices (a callable: a new gateway needs no migration)."""
    return [(kind, statement.label) for kind, (_channel, statement) in statement_formats().items()]
