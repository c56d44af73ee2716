"""Alipay OpenAPI as the simulator plays it: ``gateway.do`` with ``alipay.trade.refund`` and
``alipay.trade.fastpay.refund.query``, and the ``trade_status_sync`` notification of a refund;
for collecting, ``alipay.trade.precreate`` (a ``qr_code`` leading to the simulator's cashier page),
``alipay.trade.wap.pay`` (the phone's browser GETs the signed request and gets the cashier page),
``alipay.trade.query``, ``alipay.trade.close`` and the payment's ``trade_status_sync``."""

from __future__ import annotations

import base64
import datetime
import json
import secrets
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from . import ledger as books
from .behaviours import Behaviour
from .exchange import Answer, Exchange
from .keys import ALIPAY_APPID, ALIPAY_SELLER_ID
from .protocol import alipay_request_signature_valid, alipay_sign_notification, rsa2_sign

if TYPE_CHECKING:
    from .server import GatewaySimulator

CHANNEL = "alipay"
REFUND = "alipay.trade.refund"
REFUND_QUERY = "alipay.trade.fastpay.refund.query"
PRECREATE = "alipay.trade.precreate"
WAP_PAY = "alipay.trade.wap.pay"
TRADE_QUERY = "alipay.trade.query"
TRADE_CLOSE = "alipay.trade.close"
QR_PAGE_PREFIX = "alipay/qr/"  # where a precreated order's qr_code leads: the cashier page
BUYER_USER_ID = "2088102177846875"
BUYER_LOGON_ID = "159******20"

_PAY_REFUSALS = {
    books.ORDER_PAID: ("ACQ.TRADE_HAS_SUCCESS", "交易已被支付"),
    books.ORDER_CLOSED: ("ACQ.TRADE_HAS_CLOSE", "交易已经关闭"),
    books.NUMBER_USED: ("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改"),
}


def parse_time(text: object) -> datetime.datetime | None:
    """Alipay's yyyy-MM-dd HH:mm:ss, Beijing time; None when absent or unreadable."""
    try:
        return datetime.datetime.strptime(str(text), "%Y-%m-%d %H:%M:%S").replace(tzinfo=books.SHANGHAI)
    except ValueError:
        return None


_REFUSALS = {
    books.AMOUNT_MISMATCH: ("ACQ.REASON_TRADE_REFUND_FEE_ERR", "退款金额无效"),
    books.EXCEEDS_REMAINING: ("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限"),
}


def money(amount: Decimal) -> str:
    return format(amount.quantize(Decimal("0.01")), "f")


def _response_key(method: str) -> str:
    return method.replace(".", "_") + "_response"


class AlipayEndpoints:
    def __init__(self, sim: GatewaySimulator) -> None:
        self.sim = sim

    # --- answers

    def _error_response(self, code: str, msg: str, sub_code: str, sub_msg: str) -> Answer:
        """Gateway-level errors (bad signature, unknown app) come back as ``error_response``, unsigned."""
        payload = {"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg}
        return Answer.json(json.dumps({"error_response": payload}, ensure_ascii=False, separators=(",", ":")))

    def _signed(self, method: str, payload: dict[str, Any], *, bad_signature: bool = False) -> Answer:
        """``{"<method>_response": {...}, "sign": "..."}``, the signature over that exact inner text."""
        inner = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        sign = rsa2_sign(inner, self.sim.alipay_platform_key)
        if bad_signature:
            raw = bytearray(base64.b64decode(sign))
            raw[len(raw) // 2] ^= 0x01
            sign = base64.b64encode(bytes(raw)).decode("ascii")
        return Answer.json(f'{{"{_response_key(method)}":{inner},"sign":"{sign}"}}')

    def _business_fail(self, method: str, sub_code: str, sub_msg: str, *, bad_signature: bool = False) -> Answer:
        payload = {"code": "40004", "msg": "Business Failed", "sub_code": sub_code, "sub_msg": sub_msg}
        return self._signed(method, payload, bad_signature=bad_signature)

    # --- dispatch

    def gateway(self, exchange: Exchange) -> Answer:
        try:
            params = dict(parse_qsl(exchange.query, keep_blank_values=True, strict_parsing=False))
            if exchange.method == "POST" and exchange.body:
                params |= dict(parse_qsl(exchange.body.decode("utf-8"), keep_blank_values=True))
        except (UnicodeDecodeError, ValueError):
            return self._error_response("40002", "Invalid Arguments", "isv.invalid-parameter", "参数无效")
        method = params.get("method", "")
        self.sim.count(method or "gateway.do")
        if method == WAP_PAY:
            return self.wap_pay(params)  # the phone's browser: answered with HTML
        if not alipay_request_signature_valid(params, self.sim.alipay_app_public_key):
            return self._error_response("40002", "Invalid Arguments", "isv.invalid-signature", "验签出错")
        if params.get("app_id") != ALIPAY_APPID:
            return self._error_response("40002", "Invalid Arguments", "isv.invalid-app-id", "无效的AppID参数")
        try:
            biz = json.loads(params.get("biz_content") or "{}")
        except ValueError:
            return self._error_response("40002", "Invalid Arguments", "isv.invalid-parameter", "biz_content无效")
        if method == REFUND:
            return self.refund(params, biz)
        if method == REFUND_QUERY:
            return self.query(biz)
        if method == PRECREATE:
            return self.precreate(params, biz)
        if method == TRADE_QUERY:
            return self.trade_query(biz)
        if method == TRADE_CLOSE:
            return self.trade_close(biz)
        return self._error_response("40002", "Invalid Arguments", "isv.invalid-method", "不存在的方法名")

    def _trade(self, biz: dict[str, Any]) -> books.Trade | None:
        trade_no, out_trade_no = str(biz.get("trade_no") or ""), str(biz.get("out_trade_no") or "")
        trade = self.sim.ledger.find_trade(CHANNEL, trade_no=trade_no, out_trade_no=out_trade_no)
        if trade is None and self.sim.alipay_unknown_trade_total is not None and (trade_no or out_trade_no):
            # Alipay's refund request does not carry the order total: an unknown trade is taken as
            # paid with a generous total, unless a test registered it or turned that off.
            trade = self.sim.ledger.register_trade(
                CHANNEL,
                trade_no=trade_no or "2026" + out_trade_no,
                out_trade_no=out_trade_no,
                total=self.sim.alipay_unknown_trade_total,
            )
        return trade

    # --- refund

    def refund(self, params: dict[str, str], biz: dict[str, Any]) -> Answer:
        # Without out_request_no, Alipay takes the order number as the refund request number.
        payout_no = str(biz.get("out_request_no") or biz.get("out_trade_no") or "")
        # A number already taken is answered from the books, never refused.
        known = self.sim.ledger.find_refund(CHANNEL, payout_no) is not None
        rule = self.sim.behaviours.pick(channel=CHANNEL, endpoint="refund", number=payout_no, known=known)
        early = self.sim.before_execute(rule)
        if early is not None:
            return early
        behaviour = rule.behaviour if rule else None
        bad_signature = behaviour == Behaviour.BAD_SIGNATURE
        if behaviour == Behaviour.SYSTEM_ERROR:
            return self._business_fail(REFUND, "ACQ.SYSTEM_ERROR", "系统错误")
        if behaviour == Behaviour.INSUFFICIENT_BALANCE:
            return self._business_fail(REFUND, "ACQ.SELLER_BALANCE_NOT_ENOUGH", "卖家余额不足")
        try:
            amount = Decimal(str(biz["refund_amount"]))
        except (KeyError, InvalidOperation):
            return self._business_fail(REFUND, "ACQ.INVALID_PARAMETER", "参数无效")
        trade = None if behaviour == Behaviour.TRADE_NOT_EXIST else self._trade(biz)
        if trade is None:
            return self._business_fail(REFUND, "ACQ.TRADE_NOT_EXIST", "交易不存在")
        processing = behaviour == Behaviour.PROCESSING_THEN_SUCCESS
        try:
            record, created = self.sim.ledger.accept(
                CHANNEL,
                trade=trade,
                payout_no=payout_no,
                amount=amount,
                notify_url=params.get("notify_url", ""),
                reason=str(biz.get("refund_reason") or ""),
                complete=not processing,
            )
        except books.LedgerRefusal as refusal:
            return self._business_fail(REFUND, *_REFUSALS[refusal.reason])

        moved_now = created and record.status == books.SUCCESS
        payload: dict[str, Any] = {
            "code": "10000",
            "msg": "Success",
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "buyer_logon_id": "159******20",
            # "Y" only when this very call moved money; a repeat number or a refund still on its
            # way answers "N" (confirm with the refund query).
            "fund_change": "Y" if moved_now else "N",
            "refund_fee": money(self.sim.ledger.refunded_on(trade)),  # the trade's refunded total
            "buyer_user_id": BUYER_USER_ID,
        }
        if moved_now:
            payload |= {
                "gmt_refund_pay": f"{record.succeeded_at:%Y-%m-%d %H:%M:%S}",
                "send_back_fee": money(record.amount),
                "refund_detail_item_list": [{"fund_channel": trade.fund_channel, "amount": money(record.amount)}],
            }
        answer = self._signed(REFUND, payload, bad_signature=bad_signature)
        return self.sim.after_execute(rule, record, created=created, answer=answer)

    # --- query

    def query(self, biz: dict[str, Any]) -> Answer:
        trade_no, out_trade_no = str(biz.get("trade_no") or ""), str(biz.get("out_trade_no") or "")
        payout_no = str(biz.get("out_request_no") or out_trade_no)
        rule = self.sim.behaviours.pick(channel=CHANNEL, endpoint="query", number=payout_no)
        early = self.sim.before_execute(rule)
        if early is not None:
            return early
        behaviour = rule.behaviour if rule else None
        bad_signature = behaviour == Behaviour.BAD_SIGNATURE
        if behaviour == Behaviour.SYSTEM_ERROR:
            return self._business_fail(REFUND_QUERY, "ACQ.SYSTEM_ERROR", "系统错误", bad_signature=bad_signature)
        if behaviour == Behaviour.QUERY_ERROR and rule is not None:
            return self._query_error(rule.error_code(CHANNEL), bad_signature=bad_signature)
        trade = self.sim.ledger.find_trade(CHANNEL, trade_no=trade_no, out_trade_no=out_trade_no)
        if trade is None:
            return self._business_fail(REFUND_QUERY, "ACQ.TRADE_NOT_EXIST", "交易不存在", bad_signature=bad_signature)
        payload: dict[str, Any] = {
            "code": "10000",
            "msg": "Success",
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "out_request_no": payout_no,
        }
        record = self.sim.ledger.find_refund(CHANNEL, payout_no)
        if behaviour == Behaviour.QUERY_NOT_FOUND:
            record = None  # a lagging gateway: the refund is not (yet) in the books it answers from
        # Only a refund that went through is reported; "not received, or failed" is an empty answer.
        if record is not None and record.trade is trade and record.status == books.SUCCESS:
            payload |= {
                "total_amount": money(trade.total),
                "refund_amount": money(record.amount),
                "refund_status": "REFUND_SUCCESS",
                "gmt_refund_pay": f"{record.succeeded_at:%Y-%m-%d %H:%M:%S}",
                "send_back_fee": money(record.amount),
                "refund_detail_item_list": [{"fund_channel": trade.fund_channel, "amount": money(record.amount)}],
            }
        answer = self._signed(REFUND_QUERY, payload, bad_signature=bad_signature)
        return self.sim.after_execute(rule, None, created=False, answer=answer)

    def _query_error(self, sub_code: str, *, bad_signature: bool) -> Answer:
        """``query_error``: a signed refusal of the query itself, code 40002 for a gateway-level
        sub_code (``isv.*``: the signature, the app, the parameters), else 40004."""
        if sub_code.startswith("isv."):
            payload = {"code": "40002", "msg": "Invalid Arguments", "sub_code": sub_code, "sub_msg": "参数或验签无效"}
            return self._signed(REFUND_QUERY, payload, bad_signature=bad_signature)
        return self._business_fail(REFUND_QUERY, sub_code, "业务处理失败", bad_signature=bad_signature)

    # --- notification

    def notification(self, record: books.RefundRecord, **overrides: str) -> dict[str, str]:
        """The ``trade_status_sync`` form for ``record``, signed after ``overrides`` are applied."""
        trade = record.trade
        refunded = self.sim.ledger.refunded_on(trade)
        now = datetime.datetime.now(books.SHANGHAI)
        succeeded_at = record.succeeded_at or now
        fields = {
            "notify_time": f"{now:%Y-%m-%d %H:%M:%S}",
            "notify_type": "trade_status_sync",
            "notify_id": secrets.token_hex(16),
            "app_id": ALIPAY_APPID,
            "charset": "utf-8",
            "version": "1.0",
            "sign_type": "RSA2",
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "out_biz_no": record.payout_no,
            "buyer_id": BUYER_USER_ID,
            "seller_id": ALIPAY_SELLER_ID,
            "trade_status": "TRADE_CLOSED" if refunded >= trade.total else "TRADE_SUCCESS",
            "total_amount": money(trade.total),
            # Alipay reports the trade's refunded total here, not this refund's amount.
            "refund_fee": money(refunded),
            "gmt_refund": f"{succeeded_at:%Y-%m-%d %H:%M:%S}.{succeeded_at.microsecond // 1000:03d}",
            **overrides,
        }
        fields = {key: value for key, value in fields.items() if value != ""}
        fields["sign"] = alipay_sign_notification(fields, self.sim.alipay_platform_key)
        return fields

    def notify_url(self, record: books.RefundRecord) -> str:
        return record.notify_url or record.trade.notify_url or self.sim.alipay_notify_url

    # --- collecting: precreate, wap pay, trade query, close

    def _open(self, params: dict[str, str], biz: dict[str, Any], *, product: str) -> books.PaymentOrder | str:
        """The payment order the request opens (or finds), or the sub_code of Alipay's refusal."""
        out_trade_no = str(biz.get("out_trade_no") or "")
        subject = str(biz.get("subject") or "")
        try:
            amount = Decimal(str(biz["total_amount"])).quantize(Decimal("0.01"))
        except (KeyError, InvalidOperation):
            return "ACQ.INVALID_PARAMETER"
        if not out_trade_no or not subject or amount <= 0:
            return "ACQ.INVALID_PARAMETER"
        try:
            order, _created = self.sim.ledger.open_payment(
                CHANNEL,
                out_trade_no=out_trade_no,
                amount=amount,
                subject=subject,
                product=product,
                notify_url=params.get("notify_url", ""),
                expires_at=parse_time(biz.get("time_expire")),
                return_url=params.get("return_url", ""),
            )
        except books.LedgerRefusal as refusal:
            return _PAY_REFUSALS[refusal.reason][0]
        return order

    def precreate(self, params: dict[str, str], biz: dict[str, Any]) -> Answer:
        rule = self.sim.behaviours.pick(channel=CHANNEL, endpoint="create", number=str(biz.get("out_trade_no") or ""))
        early = self.sim.before_execute(rule)
        if early is not None:
            return early
        behaviour = rule.behaviour if rule else None
        if behaviour == Behaviour.SYSTEM_ERROR:
            return self._business_fail(PRECREATE, "ACQ.SYSTEM_ERROR", "系统错误")
        order = self._open(params, biz, product="QR")
        if isinstance(order, str):
            messages = {code: message for code, message in _PAY_REFUSALS.values()}
            return self._business_fail(PRECREATE, order, messages.get(order, "参数无效"))
        payload = {
            "code": "10000",
            "msg": "Success",
            "out_trade_no": order.out_trade_no,
            "qr_code": f"{self.sim.url}{QR_PAGE_PREFIX}{order.token}",
        }
        answer = self._signed(PRECREATE, payload, bad_signature=behaviour == Behaviour.BAD_SIGNATURE)
        return self.sim.after_execute(rule, None, created=False, answer=answer)

    def wap_pay(self, params: dict[str, str]) -> Answer:
        """The phone's browser opens the signed request: the cashier page, or an error page."""
        cashier = self.sim.cashier
        if not alipay_request_signature_valid(params, self.sim.alipay_app_public_key):
            return cashier.error_page("支付宝", "验签出错，请联系商户（isv.invalid-signature）", status=400)
        if params.get("app_id") != ALIPAY_APPID:
            return cashier.error_page("支付宝", "无效的AppID参数（isv.invalid-app-id）", status=400)
        try:
            biz = json.loads(params.get("biz_content") or "{}")
        except ValueError:
            return cashier.error_page("支付宝", "biz_content无效", status=400)
        rule = self.sim.behaviours.pick(channel=CHANNEL, endpoint="create", number=str(biz.get("out_trade_no") or ""))
        early = self.sim.before_execute(rule)
        if early is not None:
            return early
        if rule is not None and rule.behaviour == Behaviour.SYSTEM_ERROR:
            return cashier.error_page("支付宝", "系统繁忙，请稍后再试（ACQ.SYSTEM_ERROR）", status=200)
        order = self._open(params, biz, product="WAP")
        if isinstance(order, str):
            existing = self.sim.ledger.find_payment(CHANNEL, out_trade_no=str(biz.get("out_trade_no") or ""))
            if existing is not None and order in ("ACQ.TRADE_HAS_SUCCESS", "ACQ.TRADE_HAS_CLOSE"):
                return cashier.page(existing)  # says it is paid, or closed
            return cashier.error_page("支付宝", f"订单信息无效（{order}）", status=400)
        return cashier.page(order)

    def trade_query(self, biz: dict[str, Any]) -> Answer:
        out_trade_no, trade_no = str(biz.get("out_trade_no") or ""), str(biz.get("trade_no") or "")
        rule = self.sim.behaviours.pick(channel=CHANNEL, endpoint="pay_query", number=out_trade_no or trade_no)
        early = self.sim.before_execute(rule)
        if early is not None:
            return early
        behaviour = rule.behaviour if rule else None
        bad_signature = behaviour == Behaviour.BAD_SIGNATURE
        if behaviour == Behaviour.SYSTEM_ERROR:
            return self._business_fail(TRADE_QUERY, "ACQ.SYSTEM_ERROR", "系统错误", bad_signature=bad_signature)
        if behaviour == Behaviour.QUERY_ERROR and rule is not None:
            code = rule.error_code(CHANNEL)
            return self._business_fail(TRADE_QUERY, code, "业务处理失败", bad_signature=bad_signature)
        order = self.sim.ledger.find_payment(CHANNEL, out_trade_no=out_trade_no, trade_no=trade_no)
        if order is None or not order.scanned or behaviour == Behaviour.QUERY_NOT_FOUND:
            # A precreated QR code nobody opened yet is no trade at Alipay.
            return self._business_fail(TRADE_QUERY, "ACQ.TRADE_NOT_EXIST", "交易不存在", bad_signature=bad_signature)
        payload: dict[str, Any] = {
            "code": "10000",
            "msg": "Success",
            "trade_no": order.trade_no,
            "out_trade_no": order.out_trade_no,
            "buyer_logon_id": BUYER_LOGON_ID,
            "total_amount": money(order.amount),
        }
        if order.status == books.PAID:
            closed = self.sim.ledger.refunded_in_full(order)
            paid_at = order.paid_at or datetime.datetime.now(books.SHANGHAI)
            payload |= {
                "trade_status": "TRADE_CLOSED" if closed else "TRADE_SUCCESS",
                "buyer_user_id": BUYER_USER_ID,
                "buyer_pay_amount": money(order.amount),
                "receipt_amount": money(order.amount),
                "invoice_amount": money(order.amount),
                "point_amount": "0.00",
                "send_pay_date": f"{paid_at:%Y-%m-%d %H:%M:%S}",
                "fund_bill_list": [{"amount": money(order.amount), "fund_channel": "ALIPAYACCOUNT"}],
            }
        else:
            payload["trade_status"] = "TRADE_CLOSED" if order.status == books.CLOSED else "WAIT_BUYER_PAY"
        answer = self._signed(TRADE_QUERY, payload, bad_signature=bad_signature)
        return self.sim.after_execute(rule, None, created=False, answer=answer)

    def trade_close(self, biz: dict[str, Any]) -> Answer:
        out_trade_no, trade_no = str(biz.get("out_trade_no") or ""), str(biz.get("trade_no") or "")
        rule = self.sim.behaviours.pick(channel=CHANNEL, endpoint="close", number=out_trade_no or trade_no)
        early = self.sim.before_execute(rule)
        if early is not None:
            return early
        behaviour = rule.behaviour if rule else None
        bad_signature = behaviour == Behaviour.BAD_SIGNATURE
        if behaviour == Behaviour.SYSTEM_ERROR:
            return self._business_fail(TRADE_CLOSE, "ACQ.SYSTEM_ERROR", "系统错误", bad_signature=bad_signature)
        order = self.sim.ledger.find_payment(CHANNEL, out_trade_no=out_trade_no, trade_no=trade_no)
        if order is None or not order.scanned:
            # Nothing to close: a QR code nobody opened stays payable until its time_expire.
            return self._business_fail(TRADE_CLOSE, "ACQ.TRADE_NOT_EXIST", "交易不存在", bad_signature=bad_signature)
        try:
            self.sim.ledger.close_payment(order)
        except books.LedgerRefusal:
            return self._business_fail(
                TRADE_CLOSE, "ACQ.TRADE_STATUS_ERROR", "交易状态不合法", bad_signature=bad_signature
            )
        payload = {"code": "10000", "msg": "Success", "trade_no": order.trade_no, "out_trade_no": order.out_trade_no}
        answer = self._signed(TRADE_CLOSE, payload, bad_signature=bad_signature)
        return self.sim.after_execute(rule, None, created=False, answer=answer)

    def payment_notification(
        self, order: books.PaymentOrder, *, bad_signature: bool = False, **overrides: str
    ) -> dict[str, str]:
        """The ``trade_status_sync`` form Alipay POSTs when ``order`` is paid, signed (without sign
        and sign_type) after ``overrides``; ``bad_signature`` breaks the signature."""
        now = datetime.datetime.now(books.SHANGHAI)
        paid_at = order.paid_at or now
        amount = money(order.amount)
        fields = {
            "notify_time": f"{now:%Y-%m-%d %H:%M:%S}",
            "notify_type": "trade_status_sync",
            "notify_id": secrets.token_hex(16),
            "app_id": ALIPAY_APPID,
            "charset": "utf-8",
            "version": "1.0",
            "sign_type": "RSA2",
            "trade_no": order.trade_no,
            "out_trade_no": order.out_trade_no,
            "buyer_id": BUYER_USER_ID,
            "buyer_logon_id": BUYER_LOGON_ID,
            "seller_id": ALIPAY_SELLER_ID,
            "trade_status": "TRADE_SUCCESS",
            "total_amount": amount,
            "receipt_amount": amount,
            "invoice_amount": amount,
            "buyer_pay_amount": amount,
            "point_amount": "0.00",
            "subject": order.subject,
            "gmt_create": f"{order.created_at:%Y-%m-%d %H:%M:%S}",
            "gmt_payment": f"{paid_at:%Y-%m-%d %H:%M:%S}",
            "fund_bill_list": json.dumps([{"amount": amount, "fundChannel": "ALIPAYACCOUNT"}], separators=(",", ":")),
            **overrides,
        }
        fields = {key: value for key, value in fields.items() if value != ""}
        fields["sign"] = alipay_sign_notification(fields, self.sim.alipay_platform_key)
        if bad_signature:
            raw = bytearray(base64.b64decode(fields["sign"]))
            raw[len(raw) // 2] ^= 0x01
            fields["sign"] = base64.b64encode(bytes(raw)).decode("ascii")
        return fields
