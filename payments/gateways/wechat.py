"""WeChat Pay API v2 refunds through wechatpy: apply, query, and the encrypted refund notification.

WeChat's refund application only says "accepted" (PROCESSING); the result comes by notification
or query. wechatpy does not check the signatures of WeChat's answers: this adapter does, and
treats a bad one as "outcome unknown".
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import requests
import xmltodict
from wechatpy.exceptions import WeChatPayException
from wechatpy.pay import WeChatPay

from schoolops.http import PinnedCASession

from .base import (
    ArrivalKind,
    CallbackNotice,
    CallbackRejected,
    CallbackReply,
    GatewayAnswer,
    GatewayError,
    GatewayFinalError,
    GatewayRetryableError,
    Outcome,
    RefundCall,
    RefundGateway,
    as_unknown,
)
from .config import WeChatPayConfig, wechat_pay_config

# Business error codes (err_code) after which the same call may simply be made again.
RETRYABLE_CODES = frozenset({"SYSTEMERROR", "BIZERR_NEED_RETRY", "FREQUENCY_LIMITED"})

REFUND_STATUS = {
    "SUCCESS": Outcome.SUCCEEDED,
    "PROCESSING": Outcome.PROCESSING,
    # Refund abnormal: the card it went back to refused it. The money is held at WeChat and is
    # finished by hand in the merchant platform, under this same number; sending it again under a
    # new number could pay twice, so a person checks it and queries settle it.
    "CHANGE": Outcome.NEEDS_CHECK,
    "REFUNDCLOSE": Outcome.FAILED,  # closed: no money moved
}
NOTIFY_STATUS = {"SUCCESS": Outcome.SUCCEEDED, "CHANGE": Outcome.NEEDS_CHECK, "REFUNDCLOSE": Outcome.FAILED}

CENT = Decimal("0.01")


def to_fen(amount: Decimal) -> int:
    """CNY with at most two places to integer fen; more places is a programming error."""
    if amount != amount.quantize(CENT):
        raise ValueError(f"{amount} has more than two decimal places")
    return int(amount * 100)


def from_fen(value: object) -> Decimal:
    return (Decimal(int(str(value))) / 100).quantize(CENT)


def arrival_of(account: str) -> str:
    """WeChat names where a refund lands: "支付用户零钱" (change) or a card, e.g. "招商银行信用卡0403"."""
    if not account or "零钱" in account or "balance" in account.lower():
        return ArrivalKind.BALANCE
    return ArrivalKind.BANK_CARD


class WeChatPayGateway(RefundGateway):
    channel = "wechat"
    notify_route = "payments:wechat-notify"
    ledger_account = ("1012.01", "其他货币资金-微信支付")

    def __init__(self, config: WeChatPayConfig | None = None) -> None:
        self._config = config

    @property
    def config(self) -> WeChatPayConfig:
        if self._config is None:
            self._config = wechat_pay_config()
        return self._config

    def _client(self, *, with_certificate: bool = True) -> WeChatPay:
        config = self.config
        if with_certificate:
            config.require_client_certificate()
        client = WeChatPay(
            appid=config.appid,
            api_key=config.api_key,
            mch_id=config.mch_id,
            mch_cert=config.cert_path if with_certificate else None,
            mch_key=config.key_path if with_certificate else None,
            timeout=config.timeout,
        )
        client.API_BASE_URL = config.api_base
        if config.ca_bundle:
            # wechatpy builds its own requests.Session in __init__ and offers no other hook.
            client._http = PinnedCASession(config.ca_bundle, timeout=config.timeout)
        return client

    # --- refund

    def refund(self, call: RefundCall) -> GatewayAnswer:
        config = self.config
        request = {
            "appid": config.appid,
            "mch_id": config.mch_id,
            "transaction_id": call.trade_no,
            "out_trade_no": call.order_no,
            "out_refund_no": call.payout_no,
            "total_fee": to_fen(call.order_total),
            "refund_fee": to_fen(call.amount),
            "refund_desc": call.reason,
            "notify_url": call.notify_url,
        }
        client = self._client()
        try:
            response = client.refund.apply(
                total_fee=request["total_fee"],
                refund_fee=request["refund_fee"],
                out_refund_no=call.payout_no,
                transaction_id=call.trade_no or None,
                out_trade_no=call.order_no or None,
                refund_desc=call.reason or None,
                notify_url=call.notify_url or None,
            )
        except WeChatPayException as exc:
            raise self._error(client, exc, request) from exc
        except requests.RequestException as exc:
            raise GatewayRetryableError(f"WeChat Pay unreachable: {exc}", code="NETWORK", raw_request=request) from exc
        data = self._verified(client, response, request)
        return GatewayAnswer(
            outcome=Outcome.PROCESSING,  # accepted; the result comes by notification or query
            gateway_refund_id=data.get("refund_id") or "",
            amount=from_fen(data["refund_fee"]) if data.get("refund_fee") else None,
            raw_request=request,
            raw_response=data,
        )

    # --- query

    def query(self, call: RefundCall) -> GatewayAnswer:
        config = self.config
        request = {"appid": config.appid, "mch_id": config.mch_id, "out_refund_no": call.payout_no}
        client = self._client(with_certificate=False)
        try:
            response = client.refund.query(out_refund_no=call.payout_no)
        except WeChatPayException as exc:
            error = self._error(client, exc, request)
            if error.code == "REFUNDNOTEXIST" and isinstance(error, GatewayFinalError):  # signed: no such refund
                return GatewayAnswer(
                    outcome=Outcome.NOT_FOUND,
                    code=error.code,
                    message=error.message,
                    raw_request=request,
                    raw_response=error.raw,
                )
            raise as_unknown(error, what="WeChat's refund query") from exc
        except requests.RequestException as exc:
            raise GatewayRetryableError(f"WeChat Pay unreachable: {exc}", code="NETWORK", raw_request=request) from exc
        data = self._verified(client, response, request)
        index = self._index_of(data, call.payout_no)
        if index is None:
            raise GatewayRetryableError(
                f"WeChat's query answer does not list refund {call.payout_no}", raw=data, raw_request=request
            )
        status = data.get(f"refund_status_{index}") or ""
        outcome = REFUND_STATUS.get(status)
        if outcome is None:
            raise GatewayRetryableError(f"unknown WeChat refund status {status!r}", raw=data, raw_request=request)
        account = data.get(f"refund_recv_accout_{index}") or ""
        return GatewayAnswer(
            outcome=outcome,
            gateway_refund_id=data.get(f"refund_id_{index}") or "",
            amount=from_fen(data[f"refund_fee_{index}"]) if data.get(f"refund_fee_{index}") else None,
            arrival=arrival_of(account),
            arrival_account=account,
            code=status if outcome in (Outcome.FAILED, Outcome.NEEDS_CHECK) else "",
            raw_request=request,
            raw_response=data,
        )

    @staticmethod
    def _index_of(data: dict[str, Any], payout_no: str) -> int | None:
        count = int(data.get("refund_count") or 0)
        for index in range(count):
            if data.get(f"out_refund_no_{index}") == payout_no:
                return index
        return None

    # --- answers and errors

    def _verified(self, client: WeChatPay, response: Any, request: dict[str, Any]) -> dict[str, Any]:
        """The answer as a dict, once its signature is right; otherwise the outcome is unknown."""
        if not isinstance(response, dict):
            raise GatewayRetryableError("WeChat's answer is not XML", raw=response, raw_request=request)
        data = dict(response)
        if not client.check_signature(data):
            raise GatewayRetryableError(
                "WeChat's answer has a bad signature", code="BAD_SIGNATURE", raw=data, raw_request=request
            )
        return data

    def _error(self, client: WeChatPay, exc: WeChatPayException, request: dict[str, Any]) -> GatewayError:
        """Classify a failed call: retry when WeChat says so or the answer was lost, else final."""
        if exc.return_code is None:  # an HTTP error status: nothing trustworthy came back
            status = getattr(exc.response, "status_code", "")
            raw = getattr(exc.response, "text", None)
            return GatewayRetryableError(
                f"WeChat Pay answered HTTP {status}", code="HTTP", raw=raw, raw_request=request
            )
        data = self._error_document(exc)
        if exc.return_code != "SUCCESS":
            # Communication-level refusal (certificate, request signature, parameters): unsigned,
            # and the refund was not accepted. Retrying the same request cannot help.
            message = exc.return_msg or "request refused"
            return GatewayFinalError(
                f"WeChat Pay refused the request: {message}", code=exc.return_code, raw=data, raw_request=request
            )
        if data is None or not client.check_signature(data):
            return GatewayRetryableError(
                "WeChat's error answer has a bad signature", code="BAD_SIGNATURE", raw=data, raw_request=request
            )
        code = exc.errcode or exc.result_code or "FAIL"
        message = exc.errmsg or exc.return_msg or code
        cls = GatewayRetryableError if code in RETRYABLE_CODES else GatewayFinalError
        return cls(message, code=code, raw=data, raw_request=request)

    @staticmethod
    def _error_document(exc: WeChatPayException) -> dict[str, Any] | None:
        text = getattr(exc.response, "text", None)
        if not text:
            return None
        try:
            return dict(xmltodict.parse(text)["xml"])
        except Exception:  # a broken document is simply unverifiable
            return None

    # --- callbacks

    def parse_callback(self, *, body: bytes, content_type: str, post: dict[str, str]) -> CallbackNotice:
        config = self.config
        client = self._client(with_certificate=False)
        try:
            outer = dict(xmltodict.parse(body, disable_entities=True)["xml"])
            if outer.get("return_code") != "SUCCESS":
                raise CallbackRejected(f"notification return_code is {outer.get('return_code')!r}")
            # Decrypts req_info with md5(API key) and checks appid and mch_id.
            data = client.parse_refund_notify_result(body)
            payout_no = str(data["out_refund_no"])
            status = str(data["refund_status"])
            amount = from_fen(data["refund_fee"])
        except CallbackRejected:
            raise
        except Exception as exc:  # whatever the decryption or parsing raised, nothing is vouched for
            raise CallbackRejected(f"WeChat refund notification rejected: {exc!r}") from exc
        outcome = NOTIFY_STATUS.get(status)
        if outcome is None or not payout_no:
            raise CallbackRejected(f"WeChat refund notification with status {status!r} for {payout_no!r}")
        account = str(data.get("refund_recv_accout") or "")
        return CallbackNotice(
            payout_no=payout_no,
            outcome=outcome,
            amount=amount,
            gateway_refund_id=str(data.get("refund_id") or ""),
            arrival=arrival_of(account),
            arrival_account=account,
            merchant_id=config.mch_id,
            raw=data,
        )

    def callback_reply(self, *, ok: bool) -> CallbackReply:
        code, message = ("SUCCESS", "OK") if ok else ("FAIL", "rejected")
        body = f"<xml><return_code><![CDATA[{code}]]></return_code><return_msg><![CDATA[{message}]]></return_msg></xml>"
        return CallbackReply(body=body.encode("utf-8"), content_type="text/xml; charset=utf-8")
