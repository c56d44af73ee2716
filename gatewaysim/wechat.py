"""WeChat Pay API v2 as the simulator plays it: ``secapi/pay/refund`` (client certificate
required), ``pay/refundquery``, and the encrypted refund notification; for collecting,
``pay/unifiedorder`` (NATIVE: a ``code_url``; MWEB: an ``mweb_url``, both leading to the
simulator's cashier page), ``pay/orderquery``, ``pay/closeorder`` and the signed payment
notification."""

from __future__ import annotations

import datetime
import secrets
from decimal import Decimal
from typing import TYPE_CHECKING
from urllib.parse import quote

from . import ledger as books
from .behaviours import Behaviour
from .exchange import Answer, Exchange
from .keys import WECHAT_APPID, WECHAT_MCH_ID
from .protocol import (
    parse_wechat_xml,
    wechat_encrypt_req_info,
    wechat_sign,
    wechat_signature_valid,
    wechat_xml,
)

if TYPE_CHECKING:
    from .server import GatewaySimulator

CHANNEL = "wechat"
REFUND_PATH = "secapi/pay/refund"
QUERY_PATH = "pay/refundquery"
UNIFIEDORDER_PATH = "pay/unifiedorder"
ORDERQUERY_PATH = "pay/orderquery"
CLOSEORDER_PATH = "pay/closeorder"
PAY_PATHS = (UNIFIEDORDER_PATH, ORDERQUERY_PATH, CLOSEORDER_PATH)
# Where code_url (a QR code's content) and mweb_url (the phone's browser) lead: the cashier page.
NATIVE_PAGE_PATH = "wxpay/bizpayurl"
MWEB_PAGE_PATH = "cgi-bin/mmpayweb-bin/checkmweb"
TRADE_TYPES = ("NATIVE", "MWEB")
# The openid the simulated payer has under our appid.
PAYER_OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"

_PAY_REFUSALS = {
    books.ORDER_PAID: ("ORDERPAID", "该订单已支付"),
    books.ORDER_CLOSED: ("ORDERCLOSED", "该订单已关闭"),
    books.NUMBER_USED: ("INVALID_REQUEST", "201 商户订单号重复"),
}

_REFUSALS = {
    books.AMOUNT_MISMATCH: ("REFUND_FEE_MISMATCH", "订单金额或退款金额与之前请求不一致，请核实后再试"),
    books.EXCEEDS_REMAINING: ("ERROR", "累计退款金额大于支付金额"),
    books.TOTAL_MISMATCH: ("PARAM_ERROR", "订单金额与支付金额不一致"),
}


def fen(amount: Decimal) -> str:
    return str(int(amount * 100))


def yuan(fen_text: str) -> Decimal:
    return (Decimal(int(fen_text)) / 100).quantize(Decimal("0.01"))


def parse_time(text: str) -> datetime.datetime | None:
    """WeChat's yyyyMMddHHmmss, Beijing time; None when absent or unreadable."""
    try:
        return datetime.datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=books.SHANGHAI)
    except ValueError:
        return None


class WeChatEndpoints:
    def __init__(self, sim: GatewaySimulator) -> None:
        self.sim = sim

    @property
    def api_key(self) -> str:
        return self.sim.material.wechat_api_key

    # --- answers

    def _fail(self, message: str) -> Answer:
        """A communication-level failure: ``return_code`` FAIL, unsigned, as WeChat sends it."""
        return Answer.xml(wechat_xml({"return_code": "FAIL", "return_msg": message}))

    def _signed(self, fields: dict[str, str], *, bad_signature: bool = False) -> Answer:
        fields = {
            "return_code": "SUCCESS",
            "return_msg": "OK",
            "appid": WECHAT_APPID,
            "mch_id": WECHAT_MCH_ID,
            "nonce_str": secrets.token_hex(16),
            **fields,
        }
        key = self.api_key + "-not-the-key" if bad_signature else self.api_key
        fields["sign"] = wechat_sign(fields, key)
        return Answer.xml(wechat_xml(fields))

    def _business_fail(self, code: str, message: str, *, bad_signature: bool = False) -> Answer:
        fields = {"result_code": "FAIL", "err_code": code, "err_code_des": message}
        return self._signed(fields, bad_signature=bad_signature)

    def _checked_params(self, exchange: Exchange) -> dict[str, str] | Answer:
        try:
            params = parse_wechat_xml(exchange.body)
        except ValueError:
            return self._fail("XML格式错误")
        if not wechat_signature_valid(params, self.api_key):
            return self._fail("签名错误")
        if params.get("appid") != WECHAT_APPID or params.get("mch_id") != WECHAT_MCH_ID:
            return self._fail("appid和mch_id不匹配")
        return params

    # --- refund

    def refund(self, exchange: Exchange) -> Answer:
        if not exchange.has_client_cert:
            # secapi/ needs the merchant certificate; WeChat answers without a signature.
            return self._fail("证书错误，请使用商户API证书")
        params = self._checked_params(exchange)
        if isinstance(params, Answer):
            return params
        payout_no = params.get("out_refund_no", "")
        trade_no = params.get("transaction_id", "")
        out_trade_no = params.get("out_trade_no", "")
        try:
            total = yuan(params["total_fee"])
            amount = yuan(params["refund_fee"])
        except (KeyError, ValueError):
            return self._fail("total_fee和refund_fee必须为整数")
        if not payout_no or not (trade_no or out_trade_no):
            return self._fail("缺少参数out_refund_no或transaction_id")

        # A number already taken is answered from the books, never refused.
        known = self.sim.ledger.find_refund(CHANNEL, payout_no) is not None
        rule = self.sim.behaviours.pick(channel=CHANNEL, endpoint="refund", number=payout_no, known=known)
        early = self.sim.before_execute(rule)
        if early is not None:
            return early
        behaviour = rule.behaviour if rule else None
        if behaviour == Behaviour.SYSTEM_ERROR:
            return self._business_fail("SYSTEMERROR", "系统超时，请使用相同参数重新调用")
        if behaviour == Behaviour.INSUFFICIENT_BALANCE:
            return self._business_fail("NOTENOUGH", "基本账户余额不足，请充值后重新发起")
        if behaviour == Behaviour.TRADE_NOT_EXIST:
            return self._business_fail("INVALID_TRANSACTIONID", "无效transaction_id")

        trade = self.sim.ledger.find_trade(CHANNEL, trade_no=trade_no, out_trade_no=out_trade_no)
        if trade is None:
            # WeChat's requests carry the order total: a trade is known from its first refund.
            trade = self.sim.ledger.register_trade(
                CHANNEL, trade_no=trade_no or "4200" + out_trade_no, out_trade_no=out_trade_no, total=total
            )
        elif trade.total != total:
            return self._business_fail(*_REFUSALS[books.TOTAL_MISMATCH])
        processing = behaviour == Behaviour.PROCESSING_THEN_SUCCESS
        try:
            record, created = self.sim.ledger.accept(
                CHANNEL,
                trade=trade,
                payout_no=payout_no,
                amount=amount,
                notify_url=params.get("notify_url", ""),
                reason=params.get("refund_desc", ""),
                complete=not processing,
            )
        except books.LedgerRefusal as refusal:
            return self._business_fail(*_REFUSALS[refusal.reason])

        answer = self._signed(
            {
                "result_code": "SUCCESS",
                "transaction_id": trade.trade_no,
                "out_trade_no": trade.out_trade_no,
                "out_refund_no": record.payout_no,
                "refund_id": record.refund_id,
                "refund_fee": fen(record.amount),
                "total_fee": fen(trade.total),
                "cash_fee": fen(trade.total),
                "cash_refund_fee": fen(record.amount),
            },
            bad_signature=behaviour == Behaviour.BAD_SIGNATURE,
        )
        return self.sim.after_execute(rule, record, created=created, answer=answer)

    # --- query

    def query(self, exchange: Exchange) -> Answer:
        params = self._checked_params(exchange)
        if isinstance(params, Answer):
            return params
        number = params.get("out_refund_no") or params.get("refund_id") or params.get("transaction_id", "")
        rule = self.sim.behaviours.pick(channel=CHANNEL, endpoint="query", number=number)
        early = self.sim.before_execute(rule)
        if early is not None:
            return early
        behaviour = rule.behaviour if rule else None
        bad_signature = behaviour == Behaviour.BAD_SIGNATURE
        if behaviour == Behaviour.SYSTEM_ERROR:
            return self._business_fail("SYSTEMERROR", "系统超时", bad_signature=bad_signature)
        if behaviour == Behaviour.QUERY_ERROR and rule is not None:
            return self._business_fail(rule.error_code(CHANNEL), "系统错误，请稍后再查询", bad_signature=bad_signature)

        records = self._records_for(params)
        if not records or behaviour == Behaviour.QUERY_NOT_FOUND:
            return self._business_fail("REFUNDNOTEXIST", "退款订单查询失败", bad_signature=bad_signature)
        trade = records[0].trade
        fields = {
            "result_code": "SUCCESS",
            "transaction_id": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "total_fee": fen(trade.total),
            "cash_fee": fen(trade.total),
            "refund_count": str(len(records)),
            "refund_fee": fen(sum((r.amount for r in records), Decimal("0"))),
        }
        for index, record in enumerate(records):
            fields |= {
                f"out_refund_no_{index}": record.payout_no,
                f"refund_id_{index}": record.refund_id,
                f"refund_channel_{index}": "ORIGINAL",
                f"refund_fee_{index}": fen(record.amount),
                f"refund_status_{index}": record.status,
                f"refund_account_{index}": "REFUND_SOURCE_UNSETTLED_FUNDS",
                f"refund_recv_accout_{index}": trade.recv_account,
            }
            if record.succeeded_at:
                fields[f"refund_success_time_{index}"] = f"{record.succeeded_at:%Y-%m-%d %H:%M:%S}"
        answer = self._signed(fields, bad_signature=bad_signature)
        return self.sim.after_execute(rule, None, created=False, answer=answer)

    def _records_for(self, params: dict[str, str]) -> list[books.RefundRecord]:
        ledger = self.sim.ledger
        if params.get("out_refund_no"):
            record = ledger.find_refund(CHANNEL, params["out_refund_no"])
            return [record] if record else []
        refunds = ledger.refund_records(CHANNEL)
        if params.get("refund_id"):
            return [r for r in refunds if r.refund_id == params["refund_id"]]
        trade = ledger.find_trade(
            CHANNEL, trade_no=params.get("transaction_id", ""), out_trade_no=params.get("out_trade_no", "")
        )
        return [r for r in refunds if trade is not None and r.trade is trade]

    # --- notification

    def notification(self, record: books.RefundRecord, **outer: str) -> bytes:
        """The refund result notification for ``record``; ``outer`` overrides the clear-text fields."""
        succeeded_at = record.succeeded_at or datetime.datetime.now(books.SHANGHAI)
        trade = record.trade
        inner = {
            "transaction_id": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "refund_id": record.refund_id,
            "out_refund_no": record.payout_no,
            "total_fee": fen(trade.total),
            "settlement_total_fee": fen(trade.total),
            "refund_fee": fen(record.amount),
            "settlement_refund_fee": fen(record.amount),
            "refund_status": record.status,
            "success_time": f"{succeeded_at:%Y-%m-%d %H:%M:%S}",
            "refund_recv_accout": trade.recv_account,
            "refund_account": "REFUND_SOURCE_UNSETTLED_FUNDS",
            "refund_request_source": "API",
        }
        fields = {
            "return_code": "SUCCESS",
            "appid": WECHAT_APPID,
            "mch_id": WECHAT_MCH_ID,
            "nonce_str": secrets.token_hex(16),
            "req_info": wechat_encrypt_req_info(wechat_xml(inner, root="root"), self.api_key),
            **outer,
        }
        return wechat_xml(fields).encode("utf-8")

    # --- collecting: unified order, order query, close

    def unifiedorder(self, exchange: Exchange) -> Answer:
        params = self._checked_params(exchange)
        if isinstance(params, Answer):
            return params
        out_trade_no = params.get("out_trade_no", "")
        trade_type = params.get("trade_type", "")
        missing = [
            name
            for name in ("out_trade_no", "body", "total_fee", "notify_url", "spbill_create_ip", "trade_type")
            if not params.get(name)
        ]
        if trade_type == "NATIVE" and not params.get("product_id"):
            missing.append("product_id")
        if missing:
            return self._fail(f"缺少参数{missing[0]}")
        if trade_type not in TRADE_TYPES:
            return self._fail("trade_type参数错误")  # the simulator plays QR codes and H5 only
        try:
            amount = yuan(params["total_fee"])
        except ValueError:
            return self._fail("total_fee必须为整数")
        if len(params["body"].encode("utf-8")) > 128:
            return self._fail("body参数长度有误")
        rule = self.sim.behaviours.pick(channel=CHANNEL, endpoint="create", number=out_trade_no)
        early = self.sim.before_execute(rule)
        if early is not None:
            return early
        behaviour = rule.behaviour if rule else None
        if behaviour == Behaviour.SYSTEM_ERROR:
            return self._business_fail("SYSTEMERROR", "系统超时，请使用相同参数重新调用")
        try:
            order, _created = self.sim.ledger.open_payment(
                CHANNEL,
                out_trade_no=out_trade_no,
                amount=amount,
                subject=params["body"],
                product=trade_type,
                notify_url=params["notify_url"],
                expires_at=parse_time(params.get("time_expire", "")),
            )
        except books.LedgerRefusal as refusal:
            return self._business_fail(*_PAY_REFUSALS[refusal.reason])
        fields = {"result_code": "SUCCESS", "trade_type": trade_type, "prepay_id": order.prepay_id}
        if trade_type == "NATIVE":
            fields["code_url"] = f"{self.sim.url}{NATIVE_PAGE_PATH}?pr={order.token}"
        else:
            fields["mweb_url"] = (
                f"{self.sim.url}{MWEB_PAGE_PATH}?prepay_id={order.prepay_id}&package={quote(order.token)}"
            )
        answer = self._signed(fields, bad_signature=behaviour == Behaviour.BAD_SIGNATURE)
        return self.sim.after_execute(rule, None, created=False, answer=answer)

    def orderquery(self, exchange: Exchange) -> Answer:
        params = self._checked_params(exchange)
        if isinstance(params, Answer):
            return params
        number = params.get("out_trade_no") or params.get("transaction_id", "")
        rule = self.sim.behaviours.pick(channel=CHANNEL, endpoint="pay_query", number=number)
        early = self.sim.before_execute(rule)
        if early is not None:
            return early
        behaviour = rule.behaviour if rule else None
        bad_signature = behaviour == Behaviour.BAD_SIGNATURE
        if behaviour == Behaviour.SYSTEM_ERROR:
            return self._business_fail("SYSTEMERROR", "系统错误", bad_signature=bad_signature)
        if behaviour == Behaviour.QUERY_ERROR and rule is not None:
            return self._business_fail(rule.error_code(CHANNEL), "系统错误，请稍后再查询", bad_signature=bad_signature)
        order = self.sim.ledger.find_payment(
            CHANNEL, out_trade_no=params.get("out_trade_no", ""), trade_no=params.get("transaction_id", "")
        )
        if order is None or behaviour == Behaviour.QUERY_NOT_FOUND:
            return self._business_fail("ORDERNOTEXIST", "订单不存在", bad_signature=bad_signature)
        answer = self._signed(self._order_fields(order), bad_signature=bad_signature)
        return self.sim.after_execute(rule, None, created=False, answer=answer)

    def _order_fields(self, order: books.PaymentOrder) -> dict[str, str]:
        fields = {
            "result_code": "SUCCESS",
            "out_trade_no": order.out_trade_no,
            "total_fee": fen(order.amount),
            "fee_type": "CNY",
            "trade_type": order.product,
        }
        if order.status == books.PAID:
            refunded = bool(self.sim.ledger.refunds_on(order))
            fields |= {
                "trade_state": "REFUND" if refunded else "SUCCESS",
                "trade_state_desc": "转入退款" if refunded else "支付成功",
                "transaction_id": order.trade_no,
                "openid": order.payer,
                "is_subscribe": "N",
                "bank_type": "CFT",
                "cash_fee": fen(order.amount),
                "time_end": f"{order.paid_at or datetime.datetime.now(books.SHANGHAI):%Y%m%d%H%M%S}",
            }
        elif order.status == books.CLOSED:
            fields |= {"trade_state": "CLOSED", "trade_state_desc": "订单已关闭"}
        else:
            fields |= {"trade_state": "NOTPAY", "trade_state_desc": "订单未支付"}
        return fields

    def closeorder(self, exchange: Exchange) -> Answer:
        params = self._checked_params(exchange)
        if isinstance(params, Answer):
            return params
        out_trade_no = params.get("out_trade_no", "")
        rule = self.sim.behaviours.pick(channel=CHANNEL, endpoint="close", number=out_trade_no)
        early = self.sim.before_execute(rule)
        if early is not None:
            return early
        behaviour = rule.behaviour if rule else None
        bad_signature = behaviour == Behaviour.BAD_SIGNATURE
        if behaviour == Behaviour.SYSTEM_ERROR:
            return self._business_fail("SYSTEMERROR", "系统错误", bad_signature=bad_signature)
        order = self.sim.ledger.find_payment(CHANNEL, out_trade_no=out_trade_no)
        if order is None:
            return self._business_fail("ORDERNOTEXIST", "订单不存在", bad_signature=bad_signature)
        if order.status == books.CLOSED:
            return self._business_fail("ORDERCLOSED", "订单已关闭", bad_signature=bad_signature)
        try:
            self.sim.ledger.close_payment(order)
        except books.LedgerRefusal:
            return self._business_fail("ORDERPAID", "订单已支付，不能发起关单", bad_signature=bad_signature)
        answer = self._signed({"result_code": "SUCCESS"}, bad_signature=bad_signature)
        return self.sim.after_execute(rule, None, created=False, answer=answer)

    def payment_notification(self, order: books.PaymentOrder, *, bad_signature: bool = False, **fields: str) -> bytes:
        """The payment result notification WeChat POSTs for ``order`` (paid), signed (MD5) after
        ``fields`` override what it says; ``bad_signature`` signs it with a key that is not ours."""
        paid_at = order.paid_at or datetime.datetime.now(books.SHANGHAI)
        values = {
            "return_code": "SUCCESS",
            "result_code": "SUCCESS",
            "appid": WECHAT_APPID,
            "mch_id": WECHAT_MCH_ID,
            "nonce_str": secrets.token_hex(16),
            "openid": order.payer or PAYER_OPENID,
            "is_subscribe": "N",
            "trade_type": order.product,
            "bank_type": "CFT",
            "total_fee": fen(order.amount),
            "cash_fee": fen(order.amount),
            "fee_type": "CNY",
            "transaction_id": order.trade_no,
            "out_trade_no": order.out_trade_no,
            "time_end": f"{paid_at:%Y%m%d%H%M%S}",
            **fields,
        }
        key = self.api_key + "-not-the-key" if bad_signature else self.api_key
        values["sign"] = wechat_sign(values, key)
        return wechat_xml(values).encode("utf-8")
