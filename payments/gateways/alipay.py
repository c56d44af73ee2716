"""Alipay through python-alipay-sdk: refunds (``alipay.trade.refund``, the refund query, the
``trade_status_sync`` notification of a refund) and collecting (``alipay.trade.precreate`` for a
QR code, ``alipay.trade.wap.pay`` for the phone's browser, ``alipay.trade.query``,
``alipay.trade.close`` and the payment's ``trade_status_sync`` notification).

Alipay answers a refund synchronously: ``fund_change`` "Y" means the money moved with this call.
"N" means it did not move *now* (a repeat of the number, or a refund still on its way): the
refund query then says what became of it. Finance reconciles Alipay's account bill, read here
too (``parse_account_bill``).
"""

from __future__ import annotations

import datetime
import functools
import http.client
import json
import re
import ssl
import urllib.request
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from alipay import AliPay
from alipay.exceptions import AliPayException, AliPayValidationError
from alipay.utils import AliPayConfig
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import statements as st
from .base import (
    ArrivalKind,
    CallbackNotice,
    CallbackRejected,
    CallbackReply,
    CollectionAnswer,
    CollectionCall,
    GatewayAnswer,
    GatewayFinalError,
    GatewayRetryableError,
    Outcome,
    PaymentNotice,
    PaymentState,
    RefundCall,
    RefundGateway,
    as_unknown,
)
from .config import AlipayConfig, alipay_config
from .statements import Statement, StatementError, StatementFormat, StatementRow

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

# Collecting: our modes, and alipay.trade.query's (and the notification's) trade_status as ours.
QR, WAP = "alipay_qr", "alipay_wap"
TRADE_STATUS = {
    "WAIT_BUYER_PAY": PaymentState.OPEN,
    "TRADE_SUCCESS": PaymentState.PAID,
    "TRADE_FINISHED": PaymentState.PAID,  # paid, and no longer refundable
    "TRADE_CLOSED": PaymentState.CLOSED,  # closed unpaid (or paid and refunded in full)
}
SHANGHAI = ZoneInfo("Asia/Shanghai")
SUBJECT_MAX_CHARS = 256


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


def alipay_time(value: datetime.datetime) -> str:
    """Alipay's times: yyyy-MM-dd HH:mm:ss in Beijing time."""
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def parse_alipay_time(text: object) -> datetime.datetime | None:
    try:
        return datetime.datetime.strptime(str(text)[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)
    except ValueError:
        return None


def _arrival(items: object) -> tuple[str, str]:
    """Card or balance, from the fund channels Alipay lists for the refund (balance when it lists none)."""
    listed = items if isinstance(items, list | tuple) else []
    channels = [str(item.get("fund_channel", "")) for item in listed if isinstance(item, dict)]
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
        verified: dict[str, Any] = self._verify_and_return_sync_response(raw_string, response_type)
        return verified


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


# --- The account bill (statement) -----------------------------------------------------------------

STATEMENT_KIND = "alipay_account"

ALIPAY_COLUMNS = [
    *("账务流水号", "业务流水号", "商户订单号", "商品名称", "发生时间", "对方账号", "收入金额(+元)", "支出金额(-元)"),
    *("账户余额(元)", "交易渠道", "业务类型", "备注"),
]
ALIPAY_REQUIRED: tuple[str, ...] = (
    "账务流水号",
    "业务流水号",
    "商户订单号",
    "发生时间",
    "收入金额(+元)",
    "支出金额(-元)",
    "业务类型",
)
ALIPAY_REFUND = "交易退款"
_ALIPAY_ACCOUNT = re.compile(r"账号[:：]\s*\[([^\]]*)\]")
_ALIPAY_PERIOD = re.compile(r"起始日期[:：]\s*\[([^\]]+)\]\s*终止日期[:：]\s*\[([^\]]+)\]")
_ALIPAY_SUM = re.compile(r"(支出|收入)合计[:：]\s*(\d+)\s*笔[,，]\s*共\s*(-?[\d,]+(?:\.\d+)?)\s*元")


def _alipay_name(text: str) -> str:
    return text.strip().strip("\t").translate(st.FULL_WIDTH).strip()


def _alipay_value(text: str) -> str:
    return text.strip().strip("\t").strip()


def parse_account_bill(text: str) -> Statement:
    """Alipay's account bill (账务明细, ``alipay.data.dataservice.bill.downloadurl.query`` with
    ``bill_type=signcustomer``; the ``…_账务明细.csv`` of the zip): GBK text, ``#`` comment lines
    before the column header (#支付宝账务明细查询, #账号：[…], #起始日期：[…] 终止日期：[…]) and after the
    rows (#支出合计：n笔，共x元, #收入合计…, #导出时间…). Columns: ``ALIPAY_COLUMNS``; newer files add
    columns (业务基础订单号, 业务订单号, 业务账单来源, 业务描述, …) and some write the brackets
    half-width — columns are found by name, brackets either way, and extra columns are kept as they
    are. Values often carry a trailing tab (so Excel keeps long numbers); it is removed. Refunds are
    the rows whose 业务类型 is 交易退款, the money in 支出金额. Every row is still checked (times,
    amounts) and the #支出合计 / #收入合计 footers, when present, must agree with the rows.

    The account bill has no column for the merchant refund number (``out_request_no``): a refund
    row carries the merchant order number (商户订单号, our ``Order.order_no``) and the Alipay trade
    number (业务流水号, our ``Order.gateway_trade_no``). Its rows therefore have an empty
    ``payout_no`` and are matched to payouts through the order and the amount (finance's
    reconciliation does).
    """
    account = ""
    period: tuple[datetime.datetime, datetime.datetime] | None = None
    header: list[str] | None = None
    rows: list[StatementRow] = []
    seen_count = {"支出": 0, "收入": 0}
    seen_sum = {"支出": Decimal("0.00"), "收入": Decimal("0.00")}
    footers: list[tuple[int, re.Match[str]]] = []
    line = 0
    for line, fields in st.records(text):
        if fields[0].lstrip().startswith("#"):
            comment = ",".join(fields).rstrip(",")
            if match := _ALIPAY_ACCOUNT.search(comment):
                account = match.group(1).strip()
            if match := _ALIPAY_PERIOD.search(comment):
                period = _alipay_period(match, line)
            if match := _ALIPAY_SUM.search(comment):
                footers.append((line, match))
            continue
        if header is None:
            columns = st.header(fields, line, normalise=_alipay_name)
            if "账务流水号" not in columns or "账户余额(元)" not in columns:
                raise StatementError(
                    line,
                    "",
                    _("This is not an Alipay account bill (账务明细): the header should be “%(header)s…”.")
                    % {"header": ",".join(ALIPAY_COLUMNS[:5])},
                )
            st.require(columns, ALIPAY_REQUIRED, line)
            header = [_alipay_name(f) for f in fields]
            continue
        st.check_width(fields, header, line)
        raw = {name: _alipay_value(value) for name, value in zip(header, fields, strict=True)}
        when = st.time(raw["发生时间"], line, "发生时间")
        income = st.money(raw["收入金额(+元)"] or "0", line, "收入金额(+元)")
        expense = abs(st.money(raw["支出金额(-元)"] or "0", line, "支出金额(-元)"))
        for side, amount in (("收入", income), ("支出", expense)):
            if amount:
                seen_count[side] += 1
                seen_sum[side] += abs(amount)
        if raw["业务类型"] != ALIPAY_REFUND:
            continue
        if not expense:
            raise StatementError(line, "支出金额(-元)", _("A refund row without an amount paid out."))
        rows.append(
            StatementRow(
                line=line,
                payout_no="",
                order_no=raw["商户订单号"],
                trade_no=raw["业务流水号"],
                gateway_refund_id=raw["账务流水号"],
                amount=expense,
                time=when,
                status=ALIPAY_REFUND,
                refunded=True,
                raw=raw,
            )
        )
    if header is None:
        raise StatementError(
            line or 1,
            "",
            _("This is not an Alipay account bill (账务明细): no column header “%(header)s…” was found.")
            % {"header": ",".join(ALIPAY_COLUMNS[:5])},
        )
    for footer_line, match in footers:
        side, count, total = match.group(1), int(match.group(2)), st.money(match.group(3), footer_line, "")
        if (count, abs(total)) != (seen_count[side], seen_sum[side]):
            raise StatementError(
                footer_line,
                "支出金额(-元)" if side == "支出" else "收入金额(+元)",
                _("The footer says %(count)d entries for %(total)s yuan, the rows have %(found)d for %(sum)s.")
                % {"count": count, "total": abs(total), "found": seen_count[side], "sum": seen_sum[side]},
            )
    return Statement(
        kind=STATEMENT_KIND,
        rows=rows,
        period_start=period[0].date() if period else None,
        period_end=_last_day(*period) if period else None,
        account=account,
    )


def _alipay_period(match: re.Match[str], line: int) -> tuple[datetime.datetime, datetime.datetime]:
    start, end = st.parse_time(match.group(1)), st.parse_time(match.group(2))
    if start is None or end is None or end < start:
        raise StatementError(line, "起始日期", _("The statement's dates cannot be read: %(text)s") % {"text": match[0]})
    return start, end


def _last_day(start: datetime.datetime, end: datetime.datetime) -> datetime.date:
    """The last day covered: an end at midnight (the older files' "to 30th 00:00:00") is exclusive."""
    if end.time() == datetime.time(0) and end.date() > start.date():
        return end.date() - datetime.timedelta(days=1)
    return end.date()


class AlipayGateway(RefundGateway):
    channel = "alipay"
    notify_path = "alipay/notify/"
    collection_modes = (QR, WAP)
    collection_notify_path = "alipay/pay-notify/"
    ledger_account = ("1012.02", "其他货币资金-支付宝")
    arrival = ArrivalKind.BALANCE  # or the card the student paid with, as the answer says
    arrival_note = gettext_lazy("Back to your Alipay balance as soon as the refund is paid out.")
    statement = StatementFormat(STATEMENT_KIND, gettext_lazy("Alipay account bill (CSV)"), parse_account_bill)

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

    # --- collecting: precreate (QR code), wap pay (the phone's browser), query, close

    def collection_create(self, call: CollectionCall) -> CollectionAnswer:
        subject = call.description[:SUBJECT_MAX_CHARS]
        amount = to_yuan_text(call.amount)
        expire = alipay_time(call.expires_at)  # Alipay refuses payment after it, too
        client = self._client()
        if call.mode == WAP:
            # Not an API call: the signed request the phone's browser opens at the gateway.
            signed = client.api_alipay_trade_wap_pay(
                subject,
                call.collection_no,
                amount,
                return_url=call.return_url or None,
                notify_url=call.notify_url or None,
                time_expire=expire,
                **({"quit_url": call.return_url} if call.return_url else {}),
            )
            url = f"{self.config.gateway}?{signed}"
            request = {
                "app_id": self.config.appid,
                "method": "alipay.trade.wap.pay",
                "out_trade_no": call.collection_no,
                "total_amount": amount,
                "subject": subject,
                "time_expire": expire,
                "notify_url": call.notify_url,
                "return_url": call.return_url,
            }
            return CollectionAnswer(state=PaymentState.OPEN, pay_url=url, raw_request=request, raw_response=None)
        request = {
            "app_id": self.config.appid,
            "method": "alipay.trade.precreate",
            "out_trade_no": call.collection_no,
            "total_amount": amount,
            "subject": subject,
            "time_expire": expire,
            "notify_url": call.notify_url,
        }
        response = self._call(
            lambda: client.api_alipay_trade_precreate(
                subject, call.collection_no, amount, notify_url=call.notify_url or None, time_expire=expire
            ),
            request,
        )
        qr_code = str(response.get("qr_code") or "")
        if not qr_code or response.get("out_trade_no") not in (None, call.collection_no):
            raise GatewayRetryableError(
                "Alipay's precreate answer has no qr_code for our number", raw=response, raw_request=request
            )
        return CollectionAnswer(state=PaymentState.OPEN, pay_url=qr_code, raw_request=request, raw_response=response)

    def collection_query(self, call: CollectionCall) -> CollectionAnswer:
        request = {"app_id": self.config.appid, "method": "alipay.trade.query", "out_trade_no": call.collection_no}
        client = self._client()
        try:
            response = self._call(lambda: client.api_alipay_trade_query(out_trade_no=call.collection_no), request)
        except GatewayFinalError as exc:
            if exc.code == "ACQ.TRADE_NOT_EXIST" and isinstance(exc.raw, dict):  # signed: no trade (yet)
                return CollectionAnswer(
                    state=PaymentState.NOT_FOUND,
                    code=exc.code,
                    message=exc.message,
                    raw_request=request,
                    raw_response=exc.raw,
                )
            raise as_unknown(exc, what="Alipay's trade query", subject="trade") from exc
        status = str(response.get("trade_status") or "")
        state = TRADE_STATUS.get(status)
        if state is None:
            raise GatewayRetryableError(f"unknown Alipay trade status {status!r}", raw=response, raw_request=request)
        if response.get("out_trade_no") not in (None, call.collection_no):
            raise GatewayRetryableError(
                f"Alipay's trade query answers for {response.get('out_trade_no')!r}", raw=response, raw_request=request
            )
        return CollectionAnswer(
            state=state,
            gateway_trade_no=str(response.get("trade_no") or ""),
            amount=_money(response.get("total_amount")),
            paid_at=parse_alipay_time(response.get("send_pay_date")) if state == PaymentState.PAID else None,
            payer=str(response.get("buyer_logon_id") or response.get("buyer_user_id") or ""),
            code=status,
            raw_request=request,
            raw_response=response,
        )

    def collection_close(self, call: CollectionCall) -> CollectionAnswer:
        request = {"app_id": self.config.appid, "method": "alipay.trade.close", "out_trade_no": call.collection_no}
        client = self._client()
        try:
            response = self._call(lambda: client.api_alipay_trade_close(out_trade_no=call.collection_no), request)
        except GatewayFinalError as exc:
            if isinstance(exc.raw, dict):  # a signed business answer
                if exc.code == "ACQ.TRADE_NOT_EXIST":
                    # No trade yet (a QR code nobody scanned): nothing to close. The code stays
                    # payable until its time_expire; a payment then is still recorded.
                    return CollectionAnswer(
                        state=PaymentState.NOT_FOUND, code=exc.code, raw_request=request, raw_response=exc.raw
                    )
                if exc.code == "ACQ.TRADE_STATUS_ERROR":
                    return self.collection_query(call)  # paid or closed already: the query tells which
            raise as_unknown(exc, what="Alipay's trade close", subject="trade") from exc
        return CollectionAnswer(state=PaymentState.CLOSED, raw_request=request, raw_response=response)

    # --- the call itself

    def _call(self, send: Callable[[], dict[str, Any]], request: dict[str, Any]) -> dict[str, Any]:
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

    def _verified_form(self, *, body: bytes, post: dict[str, str]) -> dict[str, str]:
        """The notification's form once its signature (without sign and sign_type) and app are ours."""
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
        if raw.get("app_id") != self.config.appid:
            raise CallbackRejected(f"Alipay notification for another app: {raw.get('app_id')!r}")
        return raw

    def parse_callback(self, *, body: bytes, content_type: str, post: dict[str, str]) -> CallbackNotice:
        return self._refund_notice(self._verified_form(body=body, post=post))

    def _refund_notice(self, raw: dict[str, str]) -> CallbackNotice:
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

    def parse_collection_callback(
        self, *, body: bytes, content_type: str, post: dict[str, str]
    ) -> PaymentNotice | CallbackNotice:
        raw = self._verified_form(body=body, post=post)
        if raw.get("out_biz_no") or raw.get("gmt_refund"):
            # A refund of the trade: Alipay sends it to the payment's notify_url.
            return self._refund_notice(raw)
        collection_no = raw.get("out_trade_no") or ""
        status = raw.get("trade_status") or ""
        state = TRADE_STATUS.get(status)
        if not collection_no or state is None:
            raise CallbackRejected(f"Alipay notification with trade_status {status!r} for {collection_no!r}")
        return PaymentNotice(
            collection_no=collection_no,
            state=state,
            amount=_money(raw.get("total_amount")),
            gateway_trade_no=raw.get("trade_no") or "",
            paid_at=parse_alipay_time(raw.get("gmt_payment")),
            payer=raw.get("buyer_logon_id") or raw.get("buyer_id") or "",
            merchant_id=raw.get("app_id", ""),
            raw=raw,
        )

    def callback_reply(self, *, ok: bool) -> CallbackReply:
        return CallbackReply(body=b"success" if ok else b"failure", content_type="text/plain; charset=utf-8")
