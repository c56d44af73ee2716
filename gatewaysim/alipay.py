"""Alipay OpenAPI as the simulator plays it: ``gateway.do`` with ``alipay.trade.refund`` and
``alipay.trade.fastpay.refund.query``, and the ``trade_status_sync`` notification."""

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
BUYER_USER_ID = "2088102177846875"

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
