"""Which gateway pays a refund back, by the order's payment channel."""

from __future__ import annotations

from .alipay import AlipayGateway
from .base import RefundGateway
from .offline import OfflineGateway
from .wechat import WeChatPayGateway

GATEWAYS: dict[str, type[RefundGateway]] = {
    "wechat": WeChatPayGateway,
    "alipay": AlipayGateway,
    # No card acquirer API: card payments go back by a bank transfer that finance records.
    "card": OfflineGateway,
    "offline": OfflineGateway,
}


class UnknownChannel(KeyError):
    """No gateway is registered for this payment channel."""

    def __str__(self) -> str:  # KeyError would show the repr of its argument
        return str(self.args[0]) if self.args else ""


def gateway_for(channel: str) -> RefundGateway:
    """A fresh gateway for ``channel`` (wechat, alipay, card, offline); ``UnknownChannel`` otherwise."""
    try:
        gateway_class = GATEWAYS[channel]
    except KeyError:
        known = ", ".join(sorted(GATEWAYS))
        raise UnknownChannel(f"No refund gateway for payment channel {channel!r} (known: {known}).") from None
    return gateway_class()
