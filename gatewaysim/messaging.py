"""The notification side of the simulator: what was received, and the misbehaviour switches.

    sim.message_fault("sms", "throttled", times=1)
    ...
    assert sim.messages_received("sms")[0].payload["PhoneNumbers"] == "13800000000"

Kinds: ``wechat_template``, ``wechat_subscribe``, ``sms``, ``dingtalk``, ``wecom``, ``slack``.
Faults: ``system_error`` (the provider's "busy, try again"), ``throttled`` (its rate limit),
``http_500``, or any other text, which the provider answers as its own error code (for the SMS
provider and WeChat: ``sim.message_fault("sms", "isv.TEMPLATE_MISSING_PARAMETERS")``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .exchange import Answer, Exchange

if TYPE_CHECKING:
    from .server import GatewaySimulator

KINDS = ("wechat_template", "wechat_subscribe", "sms", "dingtalk", "wecom", "slack")
# A fault named for a family applies to each of its kinds.
FAMILIES = {"wechat": ("wechat_template", "wechat_subscribe"), "robot": ("dingtalk", "wecom", "slack")}

SYSTEM_ERROR = "system_error"
THROTTLED = "throttled"
HTTP_500 = "http_500"


@dataclass(frozen=True)
class ReceivedMessage:
    kind: str
    payload: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


@dataclass
class MessageFault:
    kinds: tuple[str, ...]
    behaviour: str
    times: int | None  # None: every time


class MessageBook:
    """Messages accepted, faults pending, and WeChat access tokens issued."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._messages: list[ReceivedMessage] = []
            self._faults: list[MessageFault] = []
            self.access_tokens: dict[str, float] = {}  # token -> expiry (time.time())
            self.sms_nonces: dict[str, float] = {}  # SignatureNonce -> when first seen
            self.unsubscribed_openids: set[str] = set()

    def record(self, kind: str, payload: dict[str, Any]) -> int:
        """Keep an accepted message; returns its number (1, 2, ...)."""
        with self._lock:
            self._messages.append(ReceivedMessage(kind, payload))
            return len(self._messages)

    def received(self, kind: str | None = None) -> list[ReceivedMessage]:
        kinds = FAMILIES.get(kind or "", (kind,)) if kind else KINDS
        with self._lock:
            return [m for m in self._messages if m.kind in kinds]

    def add_fault(self, kind: str, behaviour: str, times: int | None = 1) -> MessageFault:
        kinds = FAMILIES.get(kind, (kind,))
        if any(k not in KINDS for k in kinds):
            raise ValueError(f"kind must be one of {KINDS + tuple(FAMILIES)}, not {kind!r}")
        fault = MessageFault(kinds, behaviour, times)
        with self._lock:
            self._faults.append(fault)
        return fault

    def take_fault(self, kind: str) -> str | None:
        """The behaviour of the first pending fault for ``kind`` (used up by one request), if any."""
        with self._lock:
            for fault in self._faults:
                if kind not in fault.kinds or (fault.times is not None and fault.times <= 0):
                    continue
                if fault.times is not None:
                    fault.times -= 1
                return fault.behaviour
            return None

    def issue_token(self, token: str, lifetime: float) -> None:
        with self._lock:
            self.access_tokens[token] = time.time() + lifetime

    def token_state(self, token: str) -> str:
        """ "valid", "expired" or "invalid"."""
        with self._lock:
            expiry = self.access_tokens.get(token)
        if expiry is None:
            return "invalid"
        return "valid" if expiry > time.time() else "expired"

    def expire_tokens(self) -> None:
        with self._lock:
            self.access_tokens = dict.fromkeys(self.access_tokens, 0.0)

    def use_nonce(self, nonce: str, window: float) -> bool:
        """Remember an SMS request's nonce; False when it was seen within ``window`` seconds."""
        now = time.time()
        with self._lock:
            seen = self.sms_nonces.get(nonce)
            if seen is not None and now - seen < window:
                return False
            self.sms_nonces[nonce] = now
            return True


def json_answer(payload: dict[str, Any], status: int = 200) -> Answer:
    import json

    return Answer.json(json.dumps(payload, ensure_ascii=False), status=status)


class MessagingEndpoints:
    """Routes the notification paths to the WeChat official account, SMS and robot endpoints."""

    def __init__(self, sim: GatewaySimulator) -> None:
        from . import robots, sms, wechat_mp

        self.sim = sim
        self.book = MessageBook()
        self.wechat = wechat_mp.WeChatMessageEndpoints(sim, self.book)
        self.sms = sms.SmsEndpoint(sim, self.book)
        self.robots = robots.RobotEndpoints(sim, self.book)

    def route(self, exchange: Exchange) -> Answer | None:
        """The answer for a notification path, or None when the path is not one of them."""
        for endpoints in (self.wechat, self.sms, self.robots):
            answer = endpoints.route(exchange)
            if answer is not None:
                return answer
        return None
