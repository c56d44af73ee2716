"""Staff group robots as the simulator plays them: DingTalk (signed), WeCom and Slack-style.

``POST robot/dingtalk/send?access_token=&timestamp=&sign=`` checks DingTalk's 加签 signature
(base64 HMAC-SHA256 over "timestamp\\nsecret" with the simulator's secret, within an hour) and
answers ``{"errcode": 0}`` or 310000; ``POST robot/wecom/send?key=`` answers ``{"errcode": 0}``;
``POST robot/slack/<token>`` answers HTTP 200 "ok" (400 "invalid_payload", 429 when throttled).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from .exchange import Answer, Exchange
from .messaging import HTTP_500, SYSTEM_ERROR, THROTTLED, MessageBook, json_answer

if TYPE_CHECKING:
    from .server import GatewaySimulator

DINGTALK_PATH = "robot/dingtalk/send"
WECOM_PATH = "robot/wecom/send"
SLACK_PREFIX = "robot/slack/"
DINGTALK_SKEW_MS = 3600 * 1000
WECOM_MAX_CONTENT_BYTES = 4096


class RobotEndpoints:
    def __init__(self, sim: GatewaySimulator, book: MessageBook) -> None:
        self.sim = sim
        self.book = book

    def route(self, exchange: Exchange) -> Answer | None:
        if exchange.method != "POST":
            return None
        if exchange.path == DINGTALK_PATH:
            self.sim.count(DINGTALK_PATH)
            return self.dingtalk(exchange)
        if exchange.path == WECOM_PATH:
            self.sim.count(WECOM_PATH)
            return self.wecom(exchange)
        if exchange.path.startswith(SLACK_PREFIX):
            self.sim.count(SLACK_PREFIX)
            return self.slack(exchange)
        return None

    def target(self, kind: str) -> dict[str, str]:
        """A robot address on this simulator: ``kind``, ``url`` and (DingTalk) ``secret``."""
        base = self.sim.url
        if kind == "dingtalk":
            return {"kind": kind, "url": base + DINGTALK_PATH + "?access_token=sim", "secret": self._secret}
        if kind == "wecom":
            return {"kind": kind, "url": base + WECOM_PATH + "?key=sim-key", "secret": ""}
        if kind == "slack":
            return {"kind": kind, "url": base + SLACK_PREFIX + "T000/B000/sim", "secret": ""}
        raise ValueError(f"no robot kind {kind!r}")

    @property
    def _secret(self) -> str:
        return self.sim.material.dingtalk_secret

    def dingtalk(self, exchange: Exchange) -> Answer:
        query = {k: v[0] for k, v in parse_qs(exchange.query).items()}
        if not query.get("access_token"):
            return json_answer({"errcode": 300001, "errmsg": "token is not exist"})
        timestamp = query.get("timestamp", "")
        if not timestamp.isdigit() or abs(int(timestamp) - int(time.time() * 1000)) > DINGTALK_SKEW_MS:
            return json_answer({"errcode": 310000, "errmsg": "invalid timestamp"})
        # parse_qs has already undone the URL encoding of the base64 signature.
        expected = base64.b64encode(
            hmac.new(self._secret.encode(), f"{timestamp}\n{self._secret}".encode(), hashlib.sha256).digest()
        ).decode()
        if not hmac.compare_digest(query.get("sign", ""), expected):
            return json_answer({"errcode": 310000, "errmsg": "sign not match"})
        fault = self.book.take_fault("dingtalk")
        if fault == HTTP_500:
            return Answer.server_error()
        if fault == THROTTLED:
            return json_answer({"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"})
        if fault == SYSTEM_ERROR:
            return json_answer({"errcode": -1, "errmsg": "系统繁忙"})
        body = _json(exchange.body)
        markdown = body.get("markdown") if body else None
        if body is None or body.get("msgtype") != "markdown" or not isinstance(markdown, dict):
            return json_answer({"errcode": 40035, "errmsg": "缺少参数 json"})
        if not markdown.get("title") or not markdown.get("text"):
            return json_answer({"errcode": 40035, "errmsg": "缺少参数 markdown"})
        self.book.record("dingtalk", body)
        return json_answer({"errcode": 0, "errmsg": "ok"})

    def wecom(self, exchange: Exchange) -> Answer:
        if not parse_qs(exchange.query).get("key"):
            return json_answer({"errcode": 93000, "errmsg": "invalid webhook url"})
        fault = self.book.take_fault("wecom")
        if fault == HTTP_500:
            return Answer.server_error()
        if fault == THROTTLED:
            return json_answer({"errcode": 45009, "errmsg": "api freq out of limit"})
        if fault == SYSTEM_ERROR:
            return json_answer({"errcode": -1, "errmsg": "system busy"})
        body = _json(exchange.body)
        markdown = body.get("markdown") if body else None
        if body is None or body.get("msgtype") != "markdown" or not isinstance(markdown, dict):
            return json_answer({"errcode": 40008, "errmsg": "invalid message type"})
        content = markdown.get("content")
        if not isinstance(content, str) or not content:
            return json_answer({"errcode": 41009, "errmsg": "missing content"})
        if len(content.encode("utf-8")) > WECOM_MAX_CONTENT_BYTES:
            return json_answer({"errcode": 40058, "errmsg": "content exceed max length 4096"})
        self.book.record("wecom", body)
        return json_answer({"errcode": 0, "errmsg": "ok"})

    def slack(self, exchange: Exchange) -> Answer:
        fault = self.book.take_fault("slack")
        if fault in (HTTP_500, SYSTEM_ERROR):
            return Answer.server_error()
        if fault == THROTTLED:
            return Answer(status=429, body=b"rate_limited")
        body = _json(exchange.body)
        if body is None or not isinstance(body.get("text"), str) or not body["text"]:
            return Answer(status=400, body=b"invalid_payload")
        self.book.record("slack", body)
        return Answer(status=200, body=b"ok")


def _json(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None
