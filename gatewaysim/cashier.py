"""The cashier page: where the simulator plays the student paying.

Every payment link the simulator hands out leads here: WeChat's ``code_url`` (what the QR code
holds; "scanning" it is opening it) and ``mweb_url`` (the phone's browser), Alipay's ``qr_code`` and
the signed ``alipay.trade.wap.pay`` request. The page shows the merchant, the goods and the amount
with "确认支付" and "取消"; confirming pays the order in the simulator's books and sends the signed
payment notification to the merchant's ``notify_url`` (``GatewaySimulator.payment_paid``).
Plain HTML for a phone, no external assets.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, parse_qsl, quote

from . import ledger as books
from .alipay import QR_PAGE_PREFIX
from .exchange import Answer, Exchange
from .keys import MERCHANT_NAME
from .wechat import MWEB_PAGE_PATH, NATIVE_PAGE_PATH

if TYPE_CHECKING:
    from .server import GatewaySimulator

SUBMIT_PREFIX = "cashier/"  # POST cashier/<token>, action=pay|cancel
CHANNEL_NAMES = {"wechat": "微信支付", "alipay": "支付宝"}
COLOURS = {"wechat": "#07c160", "alipay": "#1677ff"}

_STYLE = """
body{margin:0;font-family:-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;background:#f5f5f5;color:#222}
header{color:#fff;padding:14px 16px;font-size:17px}
main{max-width:480px;margin:0 auto;padding:16px}
.card{background:#fff;border-radius:8px;padding:20px 16px;margin-bottom:16px;text-align:center}
.amount{font-size:36px;font-weight:600;margin:8px 0}
.muted{color:#888;font-size:14px}
dl{text-align:left;margin:16px 0 0;font-size:14px}
dt{color:#888;float:left;width:6em}
dd{margin:0 0 8px 6em;word-break:break-all}
button,.button{display:block;width:100%;box-sizing:border-box;border:0;border-radius:6px;padding:12px;
font-size:17px;margin-top:12px;text-align:center;text-decoration:none}
.pay{color:#fff}
.cancel{background:#fff;color:#222;border:1px solid #ddd}
"""


def _money(amount: object) -> str:
    return f"{amount:.2f}" if not isinstance(amount, str) else amount


class Cashier:
    def __init__(self, sim: GatewaySimulator) -> None:
        self.sim = sim

    # --- the pages

    def open_from(self, exchange: Exchange) -> Answer | None:
        """The cashier page a payment link leads to; None when the path is no payment link."""
        query = parse_qs(exchange.query)
        token = ""
        if exchange.path == NATIVE_PAGE_PATH:
            token = (query.get("pr") or [""])[0]
        elif exchange.path == MWEB_PAGE_PATH:
            token = (query.get("package") or [""])[0]
        elif exchange.path.startswith(QR_PAGE_PREFIX):
            token = exchange.path.removeprefix(QR_PAGE_PREFIX)
        else:
            return None
        order = self.sim.ledger.payment_by_token(token)
        if order is None:
            return self.error_page("收银台", "二维码或支付链接无效。", status=404)
        if exchange.path == MWEB_PAGE_PATH and (query.get("redirect_url") or [""])[0]:
            order.return_url = query["redirect_url"][0]
        return self.page(order)

    def page(self, order: books.PaymentOrder) -> Answer:
        """The cashier for ``order``: opening it counts as scanning (Alipay's trade exists from now)."""
        self.sim.ledger.scan(order)
        channel = order.channel
        if order.status == books.PAID:
            return self._result(order, "支付成功", f"已支付 ¥{_money(order.amount)}，请返回商户查看。")
        if order.status == books.CLOSED:
            return self._result(order, "订单已关闭", "该订单已关闭，不能再支付。如需支付请向商户重新获取。")
        if order.expired():
            return self._result(order, "订单已过期", "该二维码或支付链接已过期，请向商户重新获取。")
        expires = f"<dt>有效期至</dt><dd>{order.expires_at:%Y-%m-%d %H:%M}</dd>" if order.expires_at else ""
        body = f"""
<div class="card">
  <div class="muted">{html.escape(MERCHANT_NAME)}</div>
  <div class="amount">¥{_money(order.amount)}</div>
  <dl>
    <dt>商品</dt><dd>{html.escape(order.subject)}</dd>
    <dt>商户订单号</dt><dd>{html.escape(order.out_trade_no)}</dd>
    {expires}
  </dl>
</div>
<form method="post" action="/{SUBMIT_PREFIX}{quote(order.token)}">
  <button class="pay" style="background:{COLOURS[channel]}" type="submit" name="action" value="pay">确认支付</button>
  <button class="cancel" type="submit" name="action" value="cancel">取消</button>
</form>
<p class="muted">这是本地支付模拟器，不会产生真实扣款。</p>
"""
        return self._html(channel, CHANNEL_NAMES[channel], body)

    def submit(self, exchange: Exchange) -> Answer:
        """The payer pressed a button: ``action=pay`` pays (and notifies), ``cancel`` leaves it unpaid."""
        order = self.sim.ledger.payment_by_token(exchange.path.removeprefix(SUBMIT_PREFIX))
        if order is None:
            return self.error_page("收银台", "支付链接无效。", status=404)
        action = dict(parse_qsl(exchange.body.decode("utf-8", "replace"))).get("action", "")
        if action == "cancel":
            return self._result(order, "已取消支付", "您已取消本次支付，未扣款。可以返回商户重新发起。")
        if action != "pay":
            return self.page(order)
        try:
            self.sim.payment_paid(order)
        except books.LedgerRefusal:
            return self.page(order)  # paid, closed or expired meanwhile: the page says which
        return self._result(order, "支付成功", f"已支付 ¥{_money(order.amount)}，商户稍后会收到通知。")

    def error_page(self, title: str, message: str, *, status: int = 400) -> Answer:
        body = f'<div class="card"><h2>{html.escape(title)}</h2><p>{html.escape(message)}</p></div>'
        answer = self._html("", title, body)
        answer.status = status
        return answer

    # --- building them

    def _result(self, order: books.PaymentOrder, title: str, message: str) -> Answer:
        back = ""
        if order.return_url.startswith(("http://", "https://")):
            back = f'<a class="button cancel" href="{html.escape(order.return_url)}">返回商户</a>'
        body = f"""
<div class="card">
  <h2>{html.escape(title)}</h2>
  <p>{html.escape(message)}</p>
  <p class="muted">{html.escape(order.subject)} · {html.escape(order.out_trade_no)}</p>
</div>
{back}
"""
        return self._html(order.channel, CHANNEL_NAMES[order.channel], body)

    @staticmethod
    def _html(channel: str, title: str, body: str) -> Answer:
        colour = COLOURS.get(channel, "#444")
        page = f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{_STYLE}</style>
</head>
<body>
<header style="background:{colour}">{html.escape(title)} · 收银台</header>
<main>{body}</main>
</body>
</html>
"""
        return Answer(status=200, body=page.encode("utf-8"), content_type="text/html; charset=utf-8")
