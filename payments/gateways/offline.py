"""Offline payouts: a person transfers the money and finance records it. No API, no callback."""

from __future__ import annotations

from django.utils.translation import gettext_lazy

from .base import ArrivalKind, CallbackNotice, CallbackRejected, CallbackReply, GatewayAnswer, RefundCall, RefundGateway


class ManualPayoutRequired(NotImplementedError):
    """Raised when code tries to call an API for a payout that a person records by hand."""


class OfflineGateway(RefundGateway):
    channel = "offline"
    manual = True
    ledger_account = ("1002", "银行存款")  # the bank account finance transfers from
    arrival = ArrivalKind.BANK_TRANSFER
    arrival_note = gettext_lazy("Finance will contact you to arrange the transfer.")

    def refund(self, call: RefundCall) -> GatewayAnswer:
        raise ManualPayoutRequired(
            f"Payout {call.payout_no} is an offline transfer: finance makes it and records it by hand."
        )

    def query(self, call: RefundCall) -> GatewayAnswer:
        raise ManualPayoutRequired(
            f"Payout {call.payout_no} is an offline transfer: there is no gateway to ask; finance's record is final."
        )

    def parse_callback(self, *, body: bytes, content_type: str, post: dict[str, str]) -> CallbackNotice:
        raise CallbackRejected("Offline transfers have no gateway callbacks.")

    def callback_reply(self, *, ok: bool) -> CallbackReply:
        return CallbackReply(body=b"", content_type="text/plain; charset=utf-8", status=404)
