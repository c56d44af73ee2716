"""The simulator: one threaded HTTPS server on 127.0.0.1 playing WeChat Pay v2 and Alipay (and, for
the notification channels, WeChat messages, an SMS provider and staff robots: ``messaging``).

    sim = GatewaySimulator(directory=tmp_path, port=0).start()
    settings.WECHAT_PAY = sim.wechat_pay_settings()
    settings.ALIPAY = sim.alipay_settings()
    sim.behave("wechat", "crash_after_execute", times=1)
    ...
    assert sim.refunds_executed()["P0001"] == 1
    sim.pay("CO2026...")  # the student pays a collection (the cashier page's "确认支付")
    sim.stop()

Routes: ``POST /secapi/pay/refund`` (client certificate required), ``POST /pay/refundquery``,
``GET|POST /gateway.do``; collecting: ``POST /pay/unifiedorder``, ``/pay/orderquery``,
``/pay/closeorder``, Alipay's precreate, wap pay, trade query and close on ``/gateway.do``, and the
cashier page every payment link leads to (``GET /wxpay/bizpayurl``,
``/cgi-bin/mmpayweb-bin/checkmweb``, ``/alipay/qr/<token>``, ``POST /cashier/<token>``);
control: ``POST /_sim/behave``, ``/_sim/reset``, ``/_sim/release``, ``/_sim/trades``,
``/_sim/pay``, ``/_sim/message_fault``, ``GET /_sim/state``. Notification routes: ``GET
/cgi-bin/token``, ``POST /cgi-bin/message/template/send``, ``POST /cgi-bin/message/subscribe/send``,
``GET|POST /sms/``, ``POST /robot/dingtalk/send``, ``/robot/wecom/send``, ``/robot/slack/...``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from . import alipay, cashier, messaging, wechat
from .behaviours import Behaviour, BehaviourBook, Rule
from .exchange import Answer, Exchange
from .keys import SimMaterial, ensure_material, settings_values, write_settings_files
from .ledger import SUCCESS, Ledger, LedgerRefusal, Movement, PaymentOrder, RefundRecord
from .protocol import load_private_key, load_public_key

logger = logging.getLogger("gatewaysim")

CONTROL_PREFIX = "_sim/"


@dataclass
class CallbackDelivery:
    """One notification the simulator POSTed to the app, and what came back."""

    channel: str
    payout_no: str  # the merchant refund number, or for a payment notification the merchant order number
    url: str
    body: bytes
    content_type: str
    status: int | None = None  # None: no HTTP answer (connection refused, timeout)
    reply: bytes = b""
    error: str = ""
    at: float = field(default_factory=time.monotonic)


def _acknowledged(delivery: CallbackDelivery) -> bool:
    """Whether the app took the notification: WeChat's SUCCESS return code, Alipay's "success"."""
    if delivery.status != 200:
        return False
    if delivery.channel == "wechat":
        return b"SUCCESS" in delivery.reply
    return delivery.reply.strip() == b"success"


class GatewaySimulator:
    """A local WeChat Pay v2 + Alipay refund gateway, faithful on the wire, with misbehaviour switches."""

    def __init__(
        self,
        directory: Path | str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        alipay_notify_url: str = "",
    ) -> None:
        self.directory = Path(directory)
        self.host = host
        self.requested_port = port
        self.material: SimMaterial = ensure_material(self.directory)
        self.alipay_app_public_key = load_public_key(self.material.alipay_app_public_key.read_bytes())
        self.alipay_platform_key = load_private_key(self.material.alipay_platform_private_key.read_bytes())
        self.ledger = Ledger()
        self.behaviours = BehaviourBook(seed=seed)
        self.requests_received: Counter[str] = Counter()
        self.callbacks: list[CallbackDelivery] = []
        self.callbacks_enabled = True
        self.callback_delay = 0.05  # seconds between the answer and the notification, normally
        self.callback_timeout = 5.0
        # Like the real gateways, a notification the app did not acknowledge is sent again later
        # (WeChat: 15 s, 15 s, 30 s, 3 min, ...; shortened here). Empty: never again.
        self.callback_retry_delays: tuple[float, ...] = (1.0, 2.0, 5.0, 15.0, 30.0, 60.0)
        # Where Alipay notifications go when neither the request nor the trade names a notify_url.
        self.default_alipay_notify_url = alipay_notify_url
        self.alipay_notify_url = alipay_notify_url
        # Total assumed for an Alipay trade the simulator has never seen (None: ACQ.TRADE_NOT_EXIST).
        self.alipay_unknown_trade_total: Decimal | None = Decimal("1000000.00")
        self._wechat = wechat.WeChatEndpoints(self)
        self._alipay = alipay.AlipayEndpoints(self)
        self._messaging = messaging.MessagingEndpoints(self)
        self.cashier = cashier.Cashier(self)
        self._lock = threading.Lock()
        self._callbacks_changed = threading.Condition(self._lock)
        self._release = threading.Event()
        self._generation = 0  # bumped by reset(): work begun before it must not touch the new books
        self._timers: list[threading.Timer] = []
        self._server: _SimHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle

    def start(self) -> GatewaySimulator:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(self.material.ca_cert))
        context.load_cert_chain(str(self.material.server_cert), str(self.material.server_key))
        # Optional at the TLS level so secapi/ can answer a missing certificate the way WeChat does.
        context.verify_mode = ssl.CERT_OPTIONAL
        self._server = _SimHTTPServer((self.host, self.requested_port), _Handler, sim=self, ssl_context=context)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="gateway-sim", daemon=True
        )
        self._thread.start()
        logger.info("gateway simulator listening on %s", self.url)
        return self

    def stop(self) -> None:
        self.release()
        self._cancel_timers()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> GatewaySimulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}/"

    # --- pointing the app at it

    def settings_values(self) -> dict[str, dict[str, str]]:
        return settings_values(self.material, base_url=self.url)

    def wechat_pay_settings(self) -> dict[str, str]:
        """What ``settings.WECHAT_PAY`` must be to use this simulator."""
        return self.settings_values()["WECHAT_PAY"]

    def alipay_settings(self) -> dict[str, str]:
        """What ``settings.ALIPAY`` must be to use this simulator."""
        return self.settings_values()["ALIPAY"]

    def sms_settings(self) -> dict[str, str]:
        """What ``settings.SMS`` must be to use this simulator's SMS provider."""
        return self.settings_values()["SMS"]

    def wechat_mp_settings(self) -> dict[str, str]:
        """What ``settings.WECHAT_MP`` must be to use this simulator's WeChat message endpoints."""
        return self.settings_values()["WECHAT_MP"]

    def robot_target(self, kind: str) -> dict[str, str]:
        """A staff robot on this simulator ("dingtalk", "wecom", "slack"): ``kind``, ``url``, ``secret``."""
        return self._messaging.robots.target(kind)

    def write_settings_files(self) -> tuple[Path, Path]:
        return write_settings_files(self.material, base_url=self.url)

    # --- switches

    def behave(
        self,
        channel: str | None,
        behaviour: str,
        *,
        times: int | None = None,
        probability: float | None = None,
        first_attempt_only: bool = False,
        delay: float | None = None,
        endpoint: str | None = None,
        code: str | None = None,
    ) -> Rule:
        """Add a misbehaviour rule (see ``Behaviour``); ``channel`` None applies it to both gateways.
        ``endpoint`` defaults to the query for the ``query_*`` behaviours, else the refund call;
        ``code`` is the error code ``query_error`` answers (WeChat ERROR, Alipay isv.invalid-signature)."""
        return self.behaviours.add(
            Rule(
                behaviour=Behaviour(behaviour),
                channel=channel,
                endpoint=endpoint,
                times=times,
                probability=probability,
                first_attempt_only=first_attempt_only,
                delay=delay,
                code=code,
            )
        )

    def reset(self, *, seed: int | None = None) -> None:
        """Forget rules, trades, refunds, counters and callbacks; let any held answer go."""
        with self._lock:
            self._generation += 1
        self.release()
        self._cancel_timers()
        self.behaviours.reset(seed=seed)
        self.ledger.reset()
        self._messaging.book.reset()
        with self._lock:
            self.requests_received.clear()
            self.callbacks.clear()
        self.callbacks_enabled = True
        self.callback_delay = 0.05
        self.callback_retry_delays = (1.0, 2.0, 5.0, 15.0, 30.0, 60.0)
        self.alipay_notify_url = self.default_alipay_notify_url
        self.alipay_unknown_trade_total = Decimal("1000000.00")

    def release(self) -> None:
        """Let every answer held by ``hang_after_execute`` (or waiting out ``slow``) go out now, and
        drop every query held by ``query_timeout``."""
        with self._lock:
            released, self._release = self._release, threading.Event()
        released.set()

    def register_trade(
        self,
        channel: str,
        *,
        trade_no: str,
        total: Decimal | str,
        out_trade_no: str = "",
        notify_url: str = "",
        recv_account: str = "支付用户零钱",
        fund_channel: str = "ALIPAYACCOUNT",
    ) -> None:
        """Make a paid trade known (WeChat also learns trades from a refund's ``total_fee``)."""
        self.ledger.register_trade(
            channel,
            trade_no=trade_no,
            out_trade_no=out_trade_no,
            total=Decimal(total),
            notify_url=notify_url,
            recv_account=recv_account,
            fund_channel=fund_channel,
        )

    # --- collecting: the student paying

    def pay(
        self, collection_no: str, *, pay_url: str = "", channel: str | None = None, notify: bool = True
    ) -> PaymentOrder:
        """The student pays the order ``collection_no`` (what "确认支付" on its cashier page does),
        after opening ``pay_url`` when given (an Alipay wap order exists only once its link is
        opened), and the payment notification goes out (unless ``notify`` is False, or a
        ``pay_notify`` rule says otherwise). Raises ``KeyError`` for an order the simulator has not
        opened and ``ledger.LedgerRefusal`` for one paid, closed or expired."""
        if pay_url:
            self.visit(pay_url)
        order = self._payment(collection_no, channel)
        self.payment_paid(order, notify=notify)
        return order

    def visit(self, url: str) -> Answer:
        """What a browser opening ``url`` (one of this simulator's) gets, without the network."""
        parts = urlsplit(url)
        return self.route(Exchange(method="GET", path=parts.path.lstrip("/"), query=parts.query, body=b""))

    def payment_paid(self, order: PaymentOrder, *, notify: bool = True) -> None:
        """Pay ``order`` in the books and send its notification after ``callback_delay``."""
        payer = wechat.PAYER_OPENID if order.channel == wechat.CHANNEL else alipay.BUYER_USER_ID
        self.ledger.pay(order, payer=payer)
        if notify:
            rule = self.behaviours.pick(channel=order.channel, endpoint="pay_notify", number=order.out_trade_no)
            self._start_timer(self.callback_delay, self._notify_payment, order, rule, self._generation)

    def payment_notification(
        self, collection_no: str, *, bad_signature: bool = False, **overrides: str
    ) -> bytes | dict[str, str]:
        """The payment notification the gateway would POST for the order ``collection_no`` (paid or
        not): WeChat's signed XML (bytes), Alipay's signed form (a dict). ``overrides`` change fields
        before signing; ``bad_signature`` breaks the signature (a forgery)."""
        order = self._payment(collection_no, None)
        if order.channel == wechat.CHANNEL:
            return self._wechat.payment_notification(order, bad_signature=bad_signature, **overrides)
        return self._alipay.payment_notification(order, bad_signature=bad_signature, **overrides)

    def payment_order(self, collection_no: str) -> PaymentOrder | None:
        """The order the simulator keeps under ``collection_no``, on either channel."""
        return self.ledger.find_payment(None, out_trade_no=collection_no)

    def payment_status(self, collection_no: str) -> str | None:
        """NOTPAY, SUCCESS (paid) or CLOSED; None when the simulator never opened the order."""
        order = self.payment_order(collection_no)
        return order.status if order else None

    def payments_received(self, channel: str | None = None) -> Counter[str]:
        """Payments per merchant order number (a correct gateway never shows a 2)."""
        return self.ledger.payments_by_number(channel)

    def _payment(self, collection_no: str, channel: str | None) -> PaymentOrder:
        order = self.ledger.find_payment(channel, out_trade_no=collection_no)
        if order is None:
            raise KeyError(
                f"the simulator has no payment order {collection_no!r} (an Alipay wap order exists once its "
                "link is opened: pass pay_url)"
            )
        return order

    # --- what tests look at

    def refunds_executed(self, channel: str | None = None) -> Counter[str]:
        """Money movements per merchant refund number (a correct client never sees a 2)."""
        return self.ledger.movements_by_number(channel)

    @property
    def total_refunded(self) -> Decimal:
        return self.ledger.total_moved()

    def messages_received(self, kind: str | None = None) -> list[messaging.ReceivedMessage]:
        """Notification messages accepted, oldest first: one kind (see ``messaging.KINDS``), a family
        ("wechat", "robot") or all."""
        return self._messaging.book.received(kind)

    def message_fault(self, kind: str, behaviour: str, *, times: int | None = 1) -> None:
        """Make the next ``times`` requests of ``kind`` (or family) fail: ``system_error``,
        ``throttled``, ``http_500``, or another text answered as the provider's error code."""
        self._messaging.book.add_fault(kind, behaviour, times)

    def expire_wechat_tokens(self) -> None:
        """Every access token issued so far is now expired (WeChat answers 42001)."""
        self._messaging.book.expire_tokens()

    def wechat_unsubscribe(self, openid: str) -> None:
        """This user has unfollowed the account (43004) / refused subscribe messages (43101)."""
        self._messaging.book.unsubscribed_openids.add(openid)

    def refund_status(self, channel: str, payout_no: str) -> str | None:
        """PROCESSING, SUCCESS, or None when the number is unknown."""
        record = self.ledger.find_refund(channel, payout_no)
        return record.status if record else None

    def wait_for_refund(self, payout_no: str | None = None, timeout: float = 10.0) -> Movement | None:
        """Block until the simulator has moved money (for ``payout_no``, or any); None on timeout."""
        return self.ledger.wait_for_movement(payout_no, timeout)

    def wait_for_callbacks(self, count: int = 1, timeout: float = 10.0) -> list[CallbackDelivery]:
        """Block until ``count`` notifications have been delivered (answered or not); returns them all."""
        with self._callbacks_changed:
            self._callbacks_changed.wait_for(lambda: len(self.callbacks) >= count, timeout=timeout)
            return list(self.callbacks)

    def wechat_notification(self, payout_no: str, **outer: str) -> bytes:
        """The refund notification WeChat would POST for ``payout_no`` (``outer`` overrides clear fields)."""
        return self._wechat.notification(self._record("wechat", payout_no), **outer)

    def alipay_notification(self, payout_no: str, **overrides: str) -> dict[str, str]:
        """The signed form Alipay would POST for ``payout_no`` (signed after ``overrides``)."""
        return self._alipay.notification(self._record("alipay", payout_no), **overrides)

    def state(self) -> dict[str, Any]:
        """A JSON-able picture of the books, for ``GET /_sim/state`` and the console."""
        refunds = [
            {
                "channel": r.channel,
                "payout_no": r.payout_no,
                "refund_id": r.refund_id,
                "trade_no": r.trade.trade_no,
                "amount": str(r.amount),
                "status": r.status,
            }
            for r in self.ledger.refund_records()
        ]
        payments = [
            {
                "channel": o.channel,
                "out_trade_no": o.out_trade_no,
                "trade_no": o.trade_no,
                "amount": str(o.amount),
                "product": o.product,
                "status": o.status,
            }
            for o in list(self.ledger.payments.values())
        ]
        return {
            "requests_received": dict(self.requests_received),
            "payments": payments,
            "refunds": refunds,
            "refunds_executed": dict(self.refunds_executed()),
            "total_refunded": str(self.total_refunded),
            "messages_received": dict(Counter(m.kind for m in self.messages_received())),
            "callbacks": [
                {"channel": c.channel, "payout_no": c.payout_no, "url": c.url, "status": c.status, "error": c.error}
                for c in self.wait_for_callbacks(0, timeout=0)
            ],
        }

    # --- used by the endpoints

    def count(self, endpoint: str) -> None:
        with self._lock:
            self.requests_received[endpoint] += 1

    def before_execute(self, rule: Rule | None) -> Answer | None:
        """Apply what happens before the gateway touches the books: delay, HTTP 500, or a query
        left unanswered (held, then the connection dropped)."""
        if rule is None:
            return None
        if rule.behaviour == Behaviour.QUERY_TIMEOUT:
            return Answer(drop=True, hold=rule.seconds)
        if rule.behaviour == Behaviour.SLOW:
            generation = self._generation
            self.hold(rule.seconds)
            if generation != self._generation:
                return Answer(drop=True)  # reset meanwhile: this request belongs to a finished test
        if rule.behaviour == Behaviour.HTTP_500:
            return Answer.server_error()
        return None

    def after_execute(self, rule: Rule | None, record: RefundRecord | None, *, created: bool, answer: Answer) -> Answer:
        """Schedule completion and notifications for a new refund, then misbehave on the way out."""
        behaviour = rule.behaviour if rule else None
        if record is not None and created:
            if record.status == SUCCESS:
                if behaviour == Behaviour.CALLBACK_BEFORE_RESPONSE:
                    self._notify(record)
                else:
                    copies = 2 if behaviour == Behaviour.DUPLICATE_CALLBACK else 1
                    self._notify_later(record, delay=self.callback_delay, copies=copies)
            elif behaviour == Behaviour.PROCESSING_THEN_SUCCESS:
                self._complete_later(record, delay=rule.seconds if rule else 0.0)
        if behaviour == Behaviour.CRASH_AFTER_EXECUTE:
            return Answer(drop=True)
        if behaviour == Behaviour.HTTP_500_AFTER_EXECUTE:
            return Answer.server_error()
        if behaviour == Behaviour.HANG_AFTER_EXECUTE and rule is not None:
            answer.hold = rule.seconds
        return answer

    def release_event(self) -> threading.Event:
        """The event the next ``release()`` sets. Take it before the books change, so a release
        that comes right after the money moved is not missed."""
        with self._lock:
            return self._release

    def hold(self, seconds: float) -> None:
        self.release_event().wait(seconds)

    def route(self, exchange: Exchange) -> Answer:
        path = exchange.path
        if path.startswith(CONTROL_PREFIX):
            return self._control(exchange)
        if path == "gateway.do" and exchange.method in ("GET", "POST"):
            return self._alipay.gateway(exchange)
        if exchange.method == "POST" and path in (wechat.REFUND_PATH, wechat.QUERY_PATH):
            self.count(path)
            if path == wechat.REFUND_PATH:
                return self._wechat.refund(exchange)
            return self._wechat.query(exchange)
        if exchange.method == "POST" and path in wechat.PAY_PATHS:
            self.count(path)
            if path == wechat.UNIFIEDORDER_PATH:
                return self._wechat.unifiedorder(exchange)
            if path == wechat.ORDERQUERY_PATH:
                return self._wechat.orderquery(exchange)
            return self._wechat.closeorder(exchange)
        if exchange.method == "POST" and path.startswith(cashier.SUBMIT_PREFIX):
            return self.cashier.submit(exchange)
        if exchange.method == "GET":
            page = self.cashier.open_from(exchange)
            if page is not None:
                return page
        answer = self._messaging.route(exchange)
        if answer is not None:
            return answer
        return Answer(status=404, body=b"Not Found")

    # --- internals

    def _record(self, channel: str, payout_no: str) -> RefundRecord:
        record = self.ledger.find_refund(channel, payout_no)
        if record is None:
            raise KeyError(f"the simulator has no {channel} refund {payout_no!r}")
        return record

    def _start_timer(self, delay: float, function: Any, *args: Any) -> None:
        timer = threading.Timer(delay, function, args=args)
        timer.daemon = True
        with self._lock:
            self._timers = [t for t in self._timers if t.is_alive()]
            self._timers.append(timer)
        timer.start()

    def _cancel_timers(self) -> None:
        """Cancel what has not fired, and wait for what is running (a callback being delivered),
        so that nothing reaches the app after a reset."""
        with self._lock:
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()
        for timer in timers:
            if timer is not threading.current_thread():
                timer.join(timeout=self.callback_timeout + 1)

    def _complete_later(self, record: RefundRecord, *, delay: float) -> None:
        self._start_timer(delay, self._complete, record)

    def _complete(self, record: RefundRecord) -> None:
        if self.ledger.find_refund(record.channel, record.payout_no) is not record:
            return  # the books were reset meanwhile
        if self.ledger.complete(record):
            self._notify(record)

    def _notify_later(self, record: RefundRecord, *, delay: float, copies: int = 1) -> None:
        self._start_timer(delay, self._notify, record, copies)

    def _notify(self, record: RefundRecord, copies: int = 1) -> None:
        if not self.callbacks_enabled:
            return
        if record.channel == "wechat":
            url = record.notify_url
            body, content_type = self._wechat.notification(record), "text/xml; charset=utf-8"
        else:
            url = self._alipay.notify_url(record)
            form = self._alipay.notification(record)
            body, content_type = urlencode(form).encode("ascii"), "application/x-www-form-urlencoded; charset=utf-8"
        if not url:
            return
        generation = self._generation
        for _ in range(copies):
            self._deliver(CallbackDelivery(record.channel, record.payout_no, url, body, content_type), generation)

    def _notify_payment(self, order: PaymentOrder, rule: Rule | None, generation: int) -> None:
        """POST the payment notification of ``order`` to its notify_url, misbehaving as ``rule`` says."""
        behaviour = rule.behaviour if rule else None
        if not self.callbacks_enabled or not order.notify_url or behaviour == Behaviour.NOTIFY_NEVER:
            return
        if generation != self._generation:
            return  # reset meanwhile: this order belongs to a finished test
        overrides: dict[str, str] = {}
        if behaviour == Behaviour.NOTIFY_WRONG_AMOUNT:
            more = order.amount + Decimal("0.01")
            if order.channel == wechat.CHANNEL:
                overrides = {"total_fee": wechat.fen(more), "cash_fee": wechat.fen(more)}
            else:
                text = alipay.money(more)
                overrides = {"total_amount": text, "receipt_amount": text, "buyer_pay_amount": text}
        bad_signature = behaviour == Behaviour.NOTIFY_BAD_SIGNATURE
        if order.channel == wechat.CHANNEL:
            body = self._wechat.payment_notification(order, bad_signature=bad_signature, **overrides)
            content_type = "text/xml; charset=utf-8"
        else:
            form = self._alipay.payment_notification(order, bad_signature=bad_signature, **overrides)
            body, content_type = urlencode(form).encode("ascii"), "application/x-www-form-urlencoded; charset=utf-8"
        for _ in range(2 if behaviour == Behaviour.NOTIFY_REPLAY else 1):
            delivery = CallbackDelivery(order.channel, order.out_trade_no, order.notify_url, body, content_type)
            self._deliver(delivery, generation)

    def _deliver(self, delivery: CallbackDelivery, generation: int, attempt: int = 0) -> None:
        request = urllib.request.Request(  # noqa: S310 - the URL is the app's own notify_url
            delivery.url, data=delivery.body, headers={"Content-Type": delivery.content_type}, method="POST"
        )
        # No proxies from the environment: notifications go straight to the (local) app.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=self.callback_timeout) as response:
                delivery.status, delivery.reply = response.status, response.read()
        except urllib.error.HTTPError as exc:
            delivery.status, delivery.reply = exc.code, exc.read()
        except OSError as exc:
            delivery.error = str(exc)
        logger.info("callback %s %s -> %s %s", delivery.channel, delivery.payout_no, delivery.status, delivery.error)
        with self._callbacks_changed:
            if generation == self._generation:
                self.callbacks.append(delivery)
                self._callbacks_changed.notify_all()
        if not _acknowledged(delivery) and attempt < len(self.callback_retry_delays) and generation == self._generation:
            again = CallbackDelivery(
                delivery.channel, delivery.payout_no, delivery.url, delivery.body, delivery.content_type
            )
            self._start_timer(self.callback_retry_delays[attempt], self._deliver, again, generation, attempt + 1)

    def _control(self, exchange: Exchange) -> Answer:
        action = exchange.path.removeprefix(CONTROL_PREFIX)
        try:
            payload = json.loads(exchange.body or b"{}")
            if exchange.method == "GET" and action == "state":
                return Answer.json(json.dumps(self.state(), ensure_ascii=False))
            if exchange.method != "POST":
                return Answer(status=405, body=b"Method Not Allowed")
            if action == "behave":
                self.behave(
                    payload.get("channel"),
                    payload["behaviour"],
                    times=payload.get("times"),
                    probability=payload.get("probability"),
                    first_attempt_only=bool(payload.get("first_attempt_only", False)),
                    delay=payload.get("delay"),
                    endpoint=payload.get("endpoint"),
                    code=payload.get("code"),
                )
            elif action == "reset":
                self.reset(seed=payload.get("seed"))
            elif action == "release":
                self.release()
            elif action == "pay":
                self.pay(payload["out_trade_no"], channel=payload.get("channel"), notify=payload.get("notify", True))
            elif action == "message_fault":
                self.message_fault(payload["kind"], payload["behaviour"], times=payload.get("times", 1))
            elif action == "trades":
                self.register_trade(
                    payload["channel"],
                    trade_no=payload["trade_no"],
                    total=str(payload["total"]),
                    out_trade_no=payload.get("out_trade_no", ""),
                    notify_url=payload.get("notify_url", ""),
                )
            else:
                return Answer(status=404, body=b"Not Found")
        except (ValueError, KeyError, TypeError, LedgerRefusal) as exc:
            return Answer.json(json.dumps({"ok": False, "error": str(exc)}), status=400)
        return Answer.json('{"ok": true}')


class _SimHTTPServer(ThreadingHTTPServer):
    """Accepts plain TCP and does the TLS handshake in the connection's own thread, so a slow or
    broken client never blocks the accept loop."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, *, sim: GatewaySimulator, ssl_context: ssl.SSLContext):
        self.sim = sim
        self.ssl_context = ssl_context
        super().__init__(address, handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(30)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            logger.info("TLS handshake with %s failed: %s", client_address, exc)
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)  # type: ignore[arg-type]  # stubs: Self of the base
        finally:
            with contextlib.suppress(OSError):
                tls.shutdown(socket.SHUT_RDWR)
            tls.close()


class _Handler(BaseHTTPRequestHandler):
    server: _SimHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "gateway-sim"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._dispatch()

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch()

    def _dispatch(self) -> None:
        path, _, query = self.path.lstrip("/").partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        exchange = Exchange(
            method=self.command,
            path=path,
            query=query,
            body=body,
            content_type=self.headers.get("Content-Type", ""),
            has_client_cert=bool(self.connection.getpeercert()),
        )
        released = self.server.sim.release_event()
        try:
            answer = self.server.sim.route(exchange)
        except Exception:
            logger.exception("gateway simulator failed on %s %s", self.command, self.path)
            answer = Answer.server_error()
        self.close_connection = True
        if answer.hold:
            released.wait(answer.hold)
        if answer.drop:
            # Money may have moved; the client gets no answer at all.
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(answer.body)
        except OSError as exc:  # the client gave up waiting (its timeout) and went away
            logger.info("client of %s %s went away before the answer: %s", self.command, self.path, exc)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        logger.debug("%s %s", self.address_string(), format % args)
