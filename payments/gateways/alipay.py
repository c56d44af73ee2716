"""Alipay refunds through python-alipay-sdk: ``alipay.trade.refund``, the refund query, and the
``trade_status_sync`` notification.

Alipay answers a refund synchronously: ``fund_change`` "Y" means the money moved with this call.
"N" means it did not move *now* (a repeat of the number, or a refund still on its way): the
refund query then says what became of it.
"""

from __future__ import annotations

import functools
import http.client
import json
import ssl
import urllib.request
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from alipay import AliPay
from alipay.exceptions import AliPayException, AliPayValidationError
from alipay.utils import AliPayConfig

from .base import (
    ArrivalKind,
    CallbackNotice,
    CallbackRejected,
    CallbackReply,
    GatewayAnswer,
    GatewayFinalError,
    GatewayRetryableError,
    Outcome,
    RefundCall,
    RefundGateway,
    as_unknown,
)
from .config import AlipayConfig, alipay_config

SUCCESS_CODE = "10000"
# "Service currently unavailable" and the business codes Alipay documents as "call again".
RETRYABLE_CODES = frozenset({"20000"})
RETRYABLE_SUB_CODES = frozenset({"ACQ.SYSTEM_ERROR", "AQC.SYSTEM_ERROR", "isp.unknow-error", "aop.unknow-error"})
# Funds a refund goes back to that are cards (3-7 business days), by refund_detail_item_list's fund_channel.
CARD_FUND_CHANNELS = frozenset({"BANKCARD", "DEBIT_CARD", "CREDIT_CARD", "CARD"})

# What the network raises when no answer came back (URLError, timeouts and resets are OSErrors;
# a dropped connection mid-answer is an HTTPException), and what the SDK trips over on an answer
# that is not Alipay JSON (it indexes into it unchecked).
_TRANSPORT_ERRORS = (OSError, http.client.HTTPException, json.JSONDecodeError, KeyError, AttributeError)

CENT = Decimal("0.01")


def to_yuan_text(amount: Decimal) -> str:
    """Alipay's amount format, "12.34" (a Decimal would break the SDK's json.dumps)."""
    if amount != amount.quantize(CENT):
        raise ValueError(f"{amount} has more than two decimal places")
    return format(amount.quantize(CENT), "f")


def _money(value: object) -> Decimal | None:
    try:
        return Decimal(str(value)).quantize(CENT) if value not in (None, "") else None
    except InvalidOperation:
        return None


def _arrival(items: object) -> tuple[str, str]:
    """Card or balance, from the fund channels Alipay lists for the refund (balance when it lists none)."""
    channels = [str(item.get("fund_channel", "")) for item in items or [] if isinstance(item, dict)]
    kind = ArrivalKind.BANK_CARD if any(c in CARD_FUND_CHANNELS for c in channels) else ArrivalKind.BALANCE
    return kind, ",".join(c for c in channels if c)


class _AliPayClient(AliPay):
    """AliPay whose HTTPS requests use our SSL context and timeout.

    The SDK calls ``urlopen(url, timeout=...)`` with no context, so a private CA (the simulator's)
    could only be trusted by changing process-wide state; overriding this one method is the
    smallest change that keeps everything else (signing, verification) the SDK's own.
    """

    def __init__(self, *args: Any, ssl_context: ssl.SSLContext, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ssl_context = ssl_context

    def verified_sync_response(self, data: dict[str, Any], response_type: str) -> dict[str, Any]:
        url = self._gateway + "?" + self.sign_data(data)
        with urllib.request.urlopen(url, timeout=self._config.timeout, context=self._ssl_context) as response:  # noqa: S310
            raw_string = response.read().decode("utf-8")
        return self._verify_and_return_sync_response(raw_string, response_type)


@functools.lru_cache(maxsize=4)
def _client_for(config: AlipayConfig) -> AliPay:
    """One SDK client per configuration: importing the RSA keys checks their primes (~0.2 s), far
    more than a refund call costs. The client keeps no state between calls."""
    context = ssl.create_default_context(cafile=config.ca_bundle or None)
    client = _AliPayClient(
        appid=config.appid,
        app_private_key_string=config.app_private_key,
        alipay_public_key_string=config.alipay_public_key,
        sign_type="RSA2",
        config=AliPayConfig(timeout=config.timeout),
        ssl_context=context,
    )
    client._gateway = config.gateway  # the SDK fixes it in __init__ (production or sandbox)
    return client


class AlipayGateway(RefundGateway):
    channel = "alipay"
    notify_route = "payments:alipay-notify"
    ledger_account = ("1012.02", "其他货币资金-支付宝")

    def __init__(self, config: AlipayConfig | None = None) -> None:
        self._config = config

    @property
    def config(self) -> AlipayConfig:
        if self._config is None:
            self._config = alipay_config()
        return self._config

    def _client(self) -> AliPay:
        return _client_for(self.config)

    # --- refund

    def refund(self, call: RefundCall) -> GatewayAnswer:
        request = {
            "app_id": self.config.appid,
            "refund_amount": to_yuan_text(call.amount),
            "out_trade_no": call.order_no,
            "trade_no": call.trade_no,
            "out_request_no": call.payout_no,
            "refund_reason": call.reason,
        }
        client = self._client()
        kwargs = {"out_request_no": call.payout_no}
        if call.reason:
            kwargs["refund_reason"] = call.reason
        response = self._call(
            lambda: client.api_alipay_trade_refund(
                request["refund_amount"], out_trade_no=call.order_no or None, trade_no=call.trade_no or None, **kwargs
            ),
            request,
        )
        if response.get("fund_change") != "Y":
            return self._confirm(call, response, request)
        arrival, account = _arrival(response.get("refund_detail_item_list"))
        return GatewayAnswer(
            outcome=Outcome.SUCCEEDED,
            amount=_money(response.get("send_back_fee")),
            arrival=arrival,
            arrival_account=account,
            raw_request=request,
            raw_response=response,
        )

    def _confirm(self, call: RefundCall, response: dict[str, Any], request: dict[str, Any]) -> GatewayAnswer:
        """``fund_change`` "N": nothing moved with this call. Ask what became of the number."""
        answer = self.query(call)
        answer.raw_request = request
        answer.raw_response = {"refund": response, "query": answer.raw_response}
        if answer.outcome in (Outcome.SUCCEEDED, Outcome.FAILED):
            return answer
        # Accepted (code 10000) but not through yet: the query will tell later.
        answer.outcome = Outcome.PROCESSING
        return answer

    # --- query

    def query(self, call: RefundCall) -> GatewayAnswer:
        request = {
            "app_id": self.config.appid,
            "out_request_no": call.payout_no,
            "trade_no": call.trade_no,
            "out_trade_no": call.order_no,
        }
        client = self._client()
        try:
            response = self._call(
                lambda: client.api_alipay_trade_fastpay_refund_query(
                    call.payout_no, trade_no=call.trade_no or None, out_trade_no=call.order_no or None
                ),
                request,
            )
        except GatewayFinalError as exc:
            if exc.code == "ACQ.TRADE_NOT_EXIST" and isinstance(exc.raw, dict):  # signed: no trade, no refund on it
                return GatewayAnswer(
                    outcome=Outcome.NOT_FOUND,
                    code=exc.code,
                    message=exc.message,
                    raw_request=request,
                    raw_response=exc.raw,
                )
            raise as_unknown(exc, what="Alipay's refund query") from exc
        status = response.get("refund_status") or ""
        if status == "REFUND_SUCCESS":
            arrival, account = _arrival(response.get("refund_detail_item_list"))
            return GatewayAnswer(
                outcome=Outcome.SUCCEEDED,
                amount=_money(response.get("refund_amount")),
                arrival=arrival,
                arrival_account=account,
                raw_request=request,
                raw_response=response,
            )
        if not status:
            # Alipay's way of saying "never received, or did not go through": a retry with the
            # same out_request_no is safe.
            return GatewayAnswer(outcome=Outcome.NOT_FOUND, raw_request=request, raw_response=response)
        return GatewayAnswer(outcome=Outcome.PROCESSING, code=status, raw_request=request, raw_response=response)

    # --- the call itself

    def _call(self, send: Any, request: dict[str, Any]) -> dict[str, Any]:
        """Run one SDK call; return its verified business answer when ``code`` is 10000, else raise."""
        try:
            response = send()
        except AliPayValidationError as exc:
            raise GatewayRetryableError(
                "Alipay's answer has a bad signature", code="BAD_SIGNATURE", raw_request=request
            ) from exc
        except AliPayException as exc:
            # An unsigned gateway-level error (error_response): our request was refused as sent.
            code = str(getattr(exc, "_AliPayException__code", "") or "")
            cls = GatewayRetryableError if code in RETRYABLE_CODES else GatewayFinalError
            raise cls(f"Alipay refused the request: {exc}", code=code, raw=str(exc), raw_request=request) from exc
        except _TRANSPORT_ERRORS as exc:
            raise GatewayRetryableError(f"Alipay unreachable: {exc!r}", code="NETWORK", raw_request=request) from exc
        code = str(response.get("code") or "")
        if code == SUCCESS_CODE:
            return response
        sub_code = str(response.get("sub_code") or "")
        message = str(response.get("sub_msg") or response.get("msg") or code)
        retryable = code in RETRYABLE_CODES or sub_code in RETRYABLE_SUB_CODES
        cls = GatewayRetryableError if retryable else GatewayFinalError
        raise cls(message, code=sub_code or code, raw=response, raw_request=request)

    # --- callbacks

    def parse_callback(self, *, body: bytes, content_type: str, post: dict[str, str]) -> CallbackNotice:
        config = self.config
        try:
            data = dict(post) if post else dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except (UnicodeDecodeError, ValueError) as exc:
            raise CallbackRejected(f"Alipay notification is not a form: {exc!r}") from exc
        raw = dict(data)
        sign = data.pop("sign", "")
        if not sign:
            raise CallbackRejected("Alipay notification without a signature")
        try:
            verified = self._client().verify(data, sign)  # pops sign_type, which is not signed
        except Exception as exc:  # malformed base64, unknown sign_type, ...
            raise CallbackRejected(f"Alipay notification signature unusable: {exc!r}") from exc
        if not verified:
            raise CallbackRejected("Alipay notification signature is wrong")
        if raw.get("app_id") != config.appid:
            raise CallbackRejected(f"Alipay notification for another app: {raw.get('app_id')!r}")
        payout_no = raw.get("out_biz_no") or ""
        if not payout_no or not (raw.get("gmt_refund") or raw.get("refund_fee")):
            raise CallbackRejected("Alipay notification is not about a refund (no out_biz_no / gmt_refund)")
        return CallbackNotice(
            payout_no=payout_no,
            outcome=Outcome.SUCCEEDED,  # Alipay notifies refunds only once the money has gone back
            # ``refund_fee`` here is the trade's refunded total, not this refund's amount.
            amount=_money(raw.get("send_back_fee")),
            gateway_refund_id="",
            arrival=ArrivalKind.BALANCE,
            merchant_id=raw.get("app_id", ""),
            raw=raw,
        )

    def callback_reply(self, *, ok: bool) -> CallbackReply:
        return CallbackReply(body=b"success" if ok else b"failure", content_type="text/plain; charset=utf-8")
