"""pytest fixtures for any test package that talks to the gateways:

    from gatewaysim.testing import callback_receiver, gateway_settings, gateway_sim  # noqa: F401

``gateway_sim`` is one simulator for the session (port 0, keys in a temporary directory);
``gateway_settings`` points ``settings.WECHAT_PAY`` / ``settings.ALIPAY`` (and the notification
channels' ``SMS`` / ``WECHAT_MP`` / ``NOTIFY_WEBHOOKS``) at it and gives each test clean books,
no messages and no misbehaviour; ``callback_receiver`` is a plain-HTTP endpoint on
127.0.0.1 that records what the simulator POSTs to it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from .server import GatewaySimulator


@pytest.fixture(scope="session")
def gateway_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewaySimulator]:
    """One running simulator for the whole session."""
    sim = GatewaySimulator(tmp_path_factory.mktemp("gateway-sim"), port=0, seed=0)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def gateway_settings(settings: Any, gateway_sim: GatewaySimulator) -> Iterator[GatewaySimulator]:
    """The app's gateway and notification settings pointed at the simulator; its books and switches
    reset around the test."""
    gateway_sim.reset()
    settings.WECHAT_PAY = gateway_sim.wechat_pay_settings()
    settings.ALIPAY = gateway_sim.alipay_settings()
    settings.SMS = gateway_sim.sms_settings()
    settings.WECHAT_MP = gateway_sim.wechat_mp_settings()
    settings.NOTIFY_WEBHOOKS = {"CA_BUNDLE": str(gateway_sim.material.ca_cert)}
    yield gateway_sim
    gateway_sim.reset()


@dataclass
class ReceivedCallback:
    path: str
    body: bytes
    content_type: str


class CallbackReceiver:
    """A tiny HTTP server standing in for our callback endpoint; it answers ``reply`` (WeChat's "OK" XML)."""

    def __init__(self) -> None:
        self.received: list[ReceivedCallback] = []
        self.reply = b"<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                reply = receiver.reply
                self.send_response(200)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
                self.wfile.flush()
                # Counted once answered: a test that changes ``reply`` after ``wait(n)`` never
                # changes the answer to the n-th callback.
                with receiver._changed:
                    receiver.received.append(ReceivedCallback(self.path, body, self.headers.get("Content-Type", "")))
                    receiver._changed.notify_all()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="callback-receiver", daemon=True
        )
        self._thread.start()

    def url(self, path: str = "/notify/") -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def wait(self, count: int = 1, timeout: float = 5.0) -> list[ReceivedCallback]:
        """Block until ``count`` callbacks have arrived; returns all received so far."""
        with self._changed:
            self._changed.wait_for(lambda: len(self.received) >= count, timeout=timeout)
            return list(self.received)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def callback_receiver() -> Iterator[CallbackReceiver]:
    receiver = CallbackReceiver()
    try:
        yield receiver
    finally:
        receiver.close()
