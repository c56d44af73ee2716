"""WeChat Pay API v2 through wechatpy: refunds (apply, query, the encrypted refund notification)
and collecting (unified order for a QR code or the phone's browser, order query, close, and the
signed payment notification).

WeChat's refund application only says "accepted" (PROCESSING); the result comes by notification
or query. wechatpy does not check the signatures of WeChat's answers: this adapter does, and
treats a bad one as "outcome unknown". Finance reconciles WeChat's refund bill, read here too
(``parse_refund_bill``).
"""

from __future__ import annotations

import datetime
import json
from decimal import Decimal
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import requests
import xmltodict
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from wechatpy.exceptions import InvalidSignatureException, WeChatPayException
from wechatpy.pay import WeChatPay

from schoolops.http import PinnedCASession

from . import statements as st
from .base import (
    ArrivalKind,
    CallbackNotice,
    CallbackRejected,
    CallbackReply,
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
    as_unknown,
)
from .config import WeChatPayConfig, wechat_pay_config
from .statements import Statement, StatementError, StatementFormat, StatementRow

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

# Collecting: our modes as WeChat's trade types, and its order query's trade_state as ours.
TRADE_TYPES = {"wechat_native": "NATIVE", "wechat_h5": "MWEB"}
TRADE_STATE = {
    "SUCCESS": PaymentState.PAID,
    "REFUND": PaymentState.PAID,  # paid, then (partly) refunded: the money came in
    "NOTPAY": PaymentState.OPEN,
    "USERPAYING": PaymentState.OPEN,
    "PAYERROR": PaymentState.OPEN,  # this attempt failed (e.g. the bank refused); it may be paid again
    "CLOSED": PaymentState.CLOSED,
    "REVOKED": PaymentState.CLOSED,
}
SHANGHAI = ZoneInfo("Asia/Shanghai")
# WeChat's ``body`` is at most 128 bytes (UTF-8): about 40 Chinese characters.
BODY_MAX_BYTES = 128

CENT = Decimal("0.01")


def to_fen(amount: Decimal) -> int:
    """CNY with at most two places to integer fen; more places is a programming error."""
    if amount != amount.quantize(CENT):
        raise ValueError(f"{amount} has more than two decimal places")
    return int(amount * 100)


def from_fen(value: object) -> Decimal:
    return (Decimal(int(str(value))) / 100).quantize(CENT)


def wechat_time(value: datetime.datetime) -> str:
    """WeChat's times: yyyyMMddHHmmss in Beijing time."""
    return value.astimezone(SHANGHAI).strftime("%Y%m%d%H%M%S")


def parse_wechat_time(text: object) -> datetime.datetime | None:
    try:
        return datetime.datetime.strptime(str(text), "%Y%m%d%H%M%S").replace(tzinfo=SHANGHAI)
    except ValueError:
        return None


def cut_to_bytes(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, never inside a character."""
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")


def arrival_of(account: str) -> str:
    """WeChat names where a refund lands: "支付用户零钱" (change) or a card, e.g. "招商银行信用卡0403"."""
    if not account or "零钱" in account or "balance" in account.lower():
        return ArrivalKind.BALANCE
    return ArrivalKind.BANK_CARD


# --- The refund bill (statement) -------------------------------------------------------------------

STATEMENT_KIND = "wechat_refund"

WECHAT_COLUMNS = [
    *("交易时间", "公众账号ID", "商户号", "特约商户号", "设备号", "微信订单号", "商户订单号", "用户标识", "交易类型"),
    *("交易状态", "付款银行", "货币种类", "应结订单金额", "代金券金额", "退款申请时间", "退款成功时间", "微信退款单号"),
    *("商户退款单号", "退款金额", "充值券退款金额", "退款类型", "退款状态", "商品名称", "商户数据包", "手续费", "费率"),
    *("订单金额", "申请退款金额", "费率备注"),
]
WECHAT_REQUIRED: tuple[str, ...] = (
    "交易时间",
    "微信订单号",
    "商户订单号",
    "退款申请时间",
    "退款成功时间",
    "微信退款单号",
)
WECHAT_REQUIRED += ("商户退款单号", "退款金额", "退款状态")
WECHAT_TOTALS = "总交易单数"
WECHAT_TOTAL_REFUNDS = ("退款总金额", "总退款金额")  # current, older layout


def _wechat_value(text: str) -> str:
    """A field without the backtick WeChat Pay puts before every value."""
    text = text.strip()
    return text[1:].strip() if text.startswith("`") else text


def parse_refund_bill(text: str) -> Statement:
    """WeChat Pay's refund bill (API v2 ``downloadbill`` with ``bill_type=REFUND``, or the same file
    from the merchant platform): UTF-8 text, a header row of Chinese column names, one data row per
    refund with every field prefixed by a backtick, then a totals header row (``总交易单数,…``) and a
    totals row. Two layouts are documented and both are accepted, found by column name:

    - current (29 columns): ``WECHAT_COLUMNS`` — totals 总交易单数,应结订单总金额,退款总金额,
      充值券退款总金额,手续费总金额,订单总金额,申请退款总金额;
    - older (26 columns): the same up to 费率, with 子商户号 / 总金额 / 代金券或立减优惠金额 /
      代金券或立减优惠退款金额 — totals 总交易单数,总交易额,总退款金额,总代金券或立减优惠退款金额,手续费总金额.

    Every row of a refund bill is a refund; its 退款状态 (SUCCESS, PROCESSING, REFUNDCLOSE, CHANGE)
    says whether the money went back. The totals row is checked against the rows (count and refund
    total), so a file cut short is refused. The bill names no day: the period comes from the upload
    form or from the rows.
    """
    records = st.records(text)
    first = next(records, None)
    if first is None:
        raise StatementError(1, "", _("The file is empty."))
    line, fields = first
    columns = st.header(fields, line)
    if "交易时间" not in columns or "微信订单号" not in columns:
        raise StatementError(
            line,
            "",
            _("This is not a WeChat Pay bill: its first line should be the header “%(header)s…”.")
            % {"header": ",".join(WECHAT_COLUMNS[:6])},
        )
    if "商户退款单号" not in columns:
        raise StatementError(
            line, "商户退款单号", _("This is a WeChat Pay bill, but not a refund bill (download it with type REFUND).")
        )
    st.require(columns, WECHAT_REQUIRED, line)
    header = [f.strip() for f in fields]
    rows: list[StatementRow] = []
    totals: tuple[int, list[str], list[str]] | None = None
    for line, fields in records:
        if totals is not None:
            if len(totals[2]) == 0:
                totals = (line, totals[1], fields)
                continue
            raise StatementError(line, "", _("Nothing may follow the totals line."))
        if _wechat_value(fields[0]) == WECHAT_TOTALS:
            totals = (line, [f.strip() for f in fields], [])
            continue
        st.check_width(fields, header, line)
        raw = {name: _wechat_value(value) for name, value in zip(header, fields, strict=True)}
        applied = st.time(raw["退款申请时间"], line, "退款申请时间")
        succeeded = st.time(raw["退款成功时间"], line, "退款成功时间") if raw["退款成功时间"] else None
        if not raw["商户退款单号"]:
            raise StatementError(line, "商户退款单号", _("The merchant refund number is empty."))
        status = raw["退款状态"].upper()
        rows.append(
            StatementRow(
                line=line,
                payout_no=raw["商户退款单号"],
                order_no=raw["商户订单号"],
                trade_no=raw["微信订单号"],
                gateway_refund_id=raw["微信退款单号"],
                amount=st.money(raw["退款金额"], line, "退款金额"),
                time=succeeded or applied,
                status=status,
                refunded=status == "SUCCESS",
                raw=raw,
            )
        )
    _check_wechat_totals(totals, rows, last_line=line)
    return Statement(kind=STATEMENT_KIND, rows=rows)


def _check_wechat_totals(
    totals: tuple[int, list[str], list[str]] | None, rows: list[StatementRow], *, last_line: int
) -> None:
    """The totals row must be there and agree with the rows: a file cut short is refused."""
    if totals is None or not totals[2]:
        raise StatementError(
            last_line + 1,
            "",
            _("The totals lines (%(name)s,…) are missing: the file is incomplete.") % {"name": WECHAT_TOTALS},
        )
    line, names, values = totals
    st.check_width(values, names, line)
    sums = dict(zip(names, (_wechat_value(v) for v in values), strict=True))
    count = sums[WECHAT_TOTALS]
    if not count.isdigit() or int(count) != len(rows):
        raise StatementError(
            line,
            WECHAT_TOTALS,
            _("The totals say %(stated)s refunds, the file lists %(found)d.") % {"stated": count, "found": len(rows)},
        )
    name = next((n for n in WECHAT_TOTAL_REFUNDS if n in sums), None)
    if name is None:
        raise StatementError(line - 1, WECHAT_TOTAL_REFUNDS[0], _("This column is missing from the totals header."))
    stated = st.money(sums[name], line, name)
    found = sum((row.amount for row in rows), Decimal("0.00"))
    if stated != found:
        raise StatementError(
            line,
            name,
            _("The totals say %(stated)s yuan refunded, the rows add up to %(found)s.")
            % {"stated": stated, "found": found},
        )


class WeChatPayGateway(RefundGateway):
    channel = "wechat"
    notify_path = "wechat/refund-notify/"
    collection_modes = tuple(TRADE_TYPES)
    collection_notify_path = "wechat/pay-notify/"
    # WeChat refuses a unified order whose time_expire is less than 5 minutes after time_start.
    collection_min_lifetime = datetime.timedelta(minutes=5)
    ledger_account = ("1012.01", "其他货币资金-微信支付")
    arrival = ArrivalKind.BALANCE  # or the card the student paid with, as the answer says
    arrival_note = gettext_lazy("Back to your WeChat Pay balance as soon as the refund is paid out.")
    statement = StatementFormat(STATEMENT_KIND, gettext_lazy("WeChat Pay refund bill (CSV)"), parse_refund_bill)

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

    # --- collecting: unified order, order query, close

    def collection_create(self, call: CollectionCall) -> CollectionAnswer:
        config = self.config
        trade_type = TRADE_TYPES[call.mode]
        body = cut_to_bytes(call.description, BODY_MAX_BYTES)
        request: dict[str, Any] = {
            "appid": config.appid,
            "mch_id": config.mch_id,
            "out_trade_no": call.collection_no,
            "total_fee": to_fen(call.amount),
            "body": body,
            "trade_type": trade_type,
            "notify_url": call.notify_url,
            "spbill_create_ip": call.client_ip or "127.0.0.1",
            "time_start": wechat_time(call.started_at),
            "time_expire": wechat_time(call.expires_at),
        }
        extra: dict[str, Any] = {}
        if trade_type == "NATIVE":
            # Required for NATIVE: the QR code's product.
            extra["product_id"] = request["product_id"] = call.collection_no
        else:
            scene = {"h5_info": {"type": "Wap", "wap_url": call.return_url, "wap_name": body}}
            extra["scene_info"] = scene  # wechatpy sends it as JSON text
            request["scene_info"] = json.dumps(scene, ensure_ascii=False)
        client = self._client(with_certificate=False)
        try:
            response = client.order.create(
                trade_type=trade_type,
                body=body,
                total_fee=request["total_fee"],
                notify_url=call.notify_url,
                # Given, so wechatpy never looks up its own address (a DNS query to WeChat).
                client_ip=request["spbill_create_ip"],
                out_trade_no=call.collection_no,
                # Fixed times, so a repeated unified order asks for exactly the same trade.
                time_start=call.started_at.astimezone(SHANGHAI),
                time_expire=call.expires_at.astimezone(SHANGHAI),
                **extra,
            )
        except WeChatPayException as exc:
            raise self._error(client, exc, request) from exc
        except requests.RequestException as exc:
            raise GatewayRetryableError(f"WeChat Pay unreachable: {exc}", code="NETWORK", raw_request=request) from exc
        data = self._verified(client, response, request)
        url = str(data.get("code_url" if trade_type == "NATIVE" else "mweb_url") or "")
        if not url:
            raise GatewayRetryableError(
                f"WeChat's unified order answer has no {'code_url' if trade_type == 'NATIVE' else 'mweb_url'}",
                raw=data,
                raw_request=request,
            )
        if trade_type == "MWEB" and call.return_url:
            # WeChat's rule for H5: where the browser goes back to is added to mweb_url by the merchant.
            url += ("&" if "?" in url else "?") + "redirect_url=" + quote(call.return_url, safe="")
        return CollectionAnswer(state=PaymentState.OPEN, pay_url=url, raw_request=request, raw_response=data)

    def collection_query(self, call: CollectionCall) -> CollectionAnswer:
        config = self.config
        request = {"appid": config.appid, "mch_id": config.mch_id, "out_trade_no": call.collection_no}
        client = self._client(with_certificate=False)
        try:
            response = client.order.query(out_trade_no=call.collection_no)
        except WeChatPayException as exc:
            error = self._error(client, exc, request)
            if error.code == "ORDERNOTEXIST" and isinstance(error, GatewayFinalError):  # signed: no such trade
                return CollectionAnswer(
                    state=PaymentState.NOT_FOUND,
                    code=error.code,
                    message=error.message,
                    raw_request=request,
                    raw_response=error.raw,
                )
            raise as_unknown(error, what="WeChat's order query", subject="trade") from exc
        except requests.RequestException as exc:
            raise GatewayRetryableError(f"WeChat Pay unreachable: {exc}", code="NETWORK", raw_request=request) from exc
        data = self._verified(client, response, request)
        trade_state = str(data.get("trade_state") or "")
        state = TRADE_STATE.get(trade_state)
        if state is None:
            raise GatewayRetryableError(f"unknown WeChat trade state {trade_state!r}", raw=data, raw_request=request)
        if data.get("out_trade_no") not in (None, call.collection_no):
            raise GatewayRetryableError(
                f"WeChat's order query answers for {data.get('out_trade_no')!r}", raw=data, raw_request=request
            )
        return CollectionAnswer(
            state=state,
            gateway_trade_no=str(data.get("transaction_id") or ""),
            amount=from_fen(data["total_fee"]) if data.get("total_fee") else None,
            paid_at=parse_wechat_time(data.get("time_end")) if state == PaymentState.PAID else None,
            payer=str(data.get("openid") or ""),
            code=trade_state,
            message=str(data.get("trade_state_desc") or ""),
            raw_request=request,
            raw_response=data,
        )

    def collection_close(self, call: CollectionCall) -> CollectionAnswer:
        config = self.config
        request = {"appid": config.appid, "mch_id": config.mch_id, "out_trade_no": call.collection_no}
        client = self._client(with_certificate=False)
        try:
            response = client.order.close(out_trade_no=call.collection_no)
        except WeChatPayException as exc:
            error = self._error(client, exc, request)
            if isinstance(error, GatewayFinalError):  # a signed business answer
                if error.code == "ORDERPAID":
                    return self.collection_query(call)  # paid first: the query carries the payment
                if error.code == "ORDERCLOSED":
                    return CollectionAnswer(
                        state=PaymentState.CLOSED, code=error.code, raw_request=request, raw_response=error.raw
                    )
                if error.code == "ORDERNOTEXIST":
                    return CollectionAnswer(
                        state=PaymentState.NOT_FOUND, code=error.code, raw_request=request, raw_response=error.raw
                    )
            raise as_unknown(error, what="WeChat's close order", subject="trade") from exc
        except requests.RequestException as exc:
            raise GatewayRetryableError(f"WeChat Pay unreachable: {exc}", code="NETWORK", raw_request=request) from exc
        data = self._verified(client, response, request)
        return CollectionAnswer(state=PaymentState.CLOSED, raw_request=request, raw_response=data)

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

    def parse_collection_callback(
        self, *, body: bytes, content_type: str, post: dict[str, str]
    ) -> PaymentNotice | CallbackNotice:
        try:
            outer = dict(xmltodict.parse(body, disable_entities=True)["xml"])
        except Exception as exc:  # not XML, entities, no <xml> root
            raise CallbackRejected(f"WeChat notification is not XML: {exc!r}") from exc
        if "req_info" in outer:
            # The refund of a collected trade (we name this endpoint as its notify_url).
            return self.parse_callback(body=body, content_type=content_type, post=post)
        config = self.config
        if outer.get("return_code") != "SUCCESS":
            raise CallbackRejected(f"notification return_code is {outer.get('return_code')!r}")
        try:
            data = self._client(with_certificate=False).parse_payment_result(body)  # MD5 signature, as sent
        except InvalidSignatureException as exc:
            raise CallbackRejected("WeChat payment notification signature is wrong") from exc
        if data.get("appid") != config.appid or data.get("mch_id") != config.mch_id:
            raise CallbackRejected(
                f"WeChat payment notification for another merchant: {data.get('appid')!r} / {data.get('mch_id')!r}"
            )
        collection_no = str(data.get("out_trade_no") or "")
        if not collection_no:
            raise CallbackRejected("WeChat payment notification without out_trade_no")
        paid = data.get("result_code") == "SUCCESS"
        try:
            amount = from_fen(data["total_fee"]) if paid else None
        except (KeyError, ValueError) as exc:
            raise CallbackRejected(f"WeChat payment notification without a usable total_fee: {exc!r}") from exc
        return PaymentNotice(
            collection_no=collection_no,
            state=PaymentState.PAID if paid else PaymentState.OPEN,
            amount=amount,
            gateway_trade_no=str(data.get("transaction_id") or ""),
            paid_at=parse_wechat_time(data.get("time_end")),
            payer=str(data.get("openid") or ""),
            merchant_id=config.mch_id,
            raw=data,
        )

    def callback_reply(self, *, ok: bool) -> CallbackReply:
        code, message = ("SUCCESS", "OK") if ok else ("FAIL", "rejected")
        body = f"<xml><return_code><![CDATA[{code}]]></return_code><return_msg><![CDATA[{message}]]></return_msg></xml>"
        return CallbackReply(body=body.encode("utf-8"), content_type="text/xml; charset=utf-8")
