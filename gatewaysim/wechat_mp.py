"""WeChat official-account and mini-program messages as the simulator plays them.

``GET cgi-bin/token`` (appid + secret -> access_token), ``POST cgi-bin/message/template/send``
(official-account template message) and ``POST cgi-bin/message/subscribe/send`` (mini-program
subscribe message), each taking ``?access_token=``. Answers are WeChat's JSON: ``errcode`` 0 or
the code WeChat gives (40001 invalid token, 42001 expired token, 40003 bad openid, 43004 not
subscribed, 40037 bad template id, 47001 bad data, 47003 a field over its limit, -1 busy,
45009 limit reached).
"""

from __future__ import annotations

import json
import re
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from .exchange import Answer, Exchange
from .keys import WECHAT_MP_APPID
from .messaging import HTTP_500, SYSTEM_ERROR, THROTTLED, MessageBook, json_answer

if TYPE_CHECKING:
    from .server import GatewaySimulator

TOKEN_PATH = "cgi-bin/token"  # noqa: S105 - a URL path, not a secret
TEMPLATE_PATH = "cgi-bin/message/template/send"
SUBSCRIBE_PATH = "cgi-bin/message/subscribe/send"
TOKEN_LIFETIME = 7200

OPENID = re.compile(r"^o[A-Za-z0-9_-]{27}$")
TEMPLATE_ID = re.compile(r"^[A-Za-z0-9_-]{10,64}$")
# Subscribe-message field rules by key prefix (thing1, amount2, ...): WeChat's published limits.
FIELD_RULES: dict[str, tuple[int, re.Pattern[str] | None]] = {
    "thing": (20, None),
    "character_string": (32, re.compile(r"^[\x21-\x7e]+$")),
    "phrase": (5, re.compile(r"^[\u4e00-\u9fff]+$")),
    "amount": (11, re.compile(r"^[¥￥]?\d+(\.\d{1,2})?元?$")),
    "number": (32, re.compile(r"^\d+(\.\d+)?$")),
    "date": (30, re.compile(r"^\d{4}[-年/]\d{1,2}[-月/]\d{1,2}日?( \d{1,2}:\d{2}(:\d{2})?)?$")),
    "time": (30, re.compile(r"^(\d{4}[-年/]\d{1,2}[-月/]\d{1,2}日? )?\d{1,2}:\d{2}(:\d{2})?$")),
    "name": (10, None),
    "phone_number": (17, re.compile(r"^[\d+\-() ]+$")),
}
FIELD_KEY = re.compile(r"^([a-z_]+?)(\d+)$")


def _error(code: int, message: str) -> Answer:
    return json_answer({"errcode": code, "errmsg": f"{message} rid: {secrets.token_hex(4)}"})


class WeChatMessageEndpoints:
    def __init__(self, sim: GatewaySimulator, book: MessageBook) -> None:
        self.sim = sim
        self.book = book

    def route(self, exchange: Exchange) -> Answer | None:
        if exchange.path == TOKEN_PATH and exchange.method == "GET":
            self.sim.count(TOKEN_PATH)
            return self.token(exchange)
        if exchange.method == "POST" and exchange.path in (TEMPLATE_PATH, SUBSCRIBE_PATH):
            self.sim.count(exchange.path)
            kind = "wechat_template" if exchange.path == TEMPLATE_PATH else "wechat_subscribe"
            return self.send(exchange, kind)
        return None

    def token(self, exchange: Exchange) -> Answer:
        query = {k: v[0] for k, v in parse_qs(exchange.query).items()}
        if query.get("grant_type") != "client_credential":
            return _error(40002, "invalid grant_type")
        if query.get("appid") != WECHAT_MP_APPID:
            return _error(40013, "invalid appid")
        if not secrets.compare_digest(query.get("secret", ""), self.sim.material.wechat_mp_secret):
            return _error(40125, "invalid appsecret")
        token = secrets.token_urlsafe(48)
        self.book.issue_token(token, TOKEN_LIFETIME)
        return json_answer({"access_token": token, "expires_in": TOKEN_LIFETIME})

    def send(self, exchange: Exchange, kind: str) -> Answer:
        token = parse_qs(exchange.query).get("access_token", [""])[0]
        state = self.book.token_state(token)
        if state == "invalid":
            return _error(40001, "invalid credential, access_token is invalid or not latest")
        if state == "expired":
            return _error(42001, "access_token expired")
        fault = self.book.take_fault(kind)
        if fault == HTTP_500:
            return Answer.server_error()
        if fault == SYSTEM_ERROR:
            return _error(-1, "system error")
        if fault == THROTTLED:
            return _error(45009, "reach max api daily quota limit")
        if fault is not None:
            return _error(int(fault), "simulated error")
        try:
            body = json.loads(exchange.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return _error(47001, "data format error")
        if not isinstance(body, dict):
            return _error(47001, "data format error")
        openid = str(body.get("touser", ""))
        if not OPENID.match(openid):
            return _error(40003, "invalid openid")
        if openid in self.book.unsubscribed_openids:
            if kind == "wechat_template":
                return _error(43004, "require subscribe")
            return _error(43101, "user refuse to accept the msg")
        if not TEMPLATE_ID.match(str(body.get("template_id", ""))):
            return _error(40037, "invalid template_id")
        data = body.get("data")
        if not isinstance(data, dict) or not data:
            return _error(47001, "data format error")
        for key, item in data.items():
            if not isinstance(item, dict) or not isinstance(item.get("value"), str):
                return _error(47001, f"data format error: data.{key}")
            if kind == "wechat_subscribe" and not _field_valid(key, item["value"]):
                return _error(47003, f"argument invalid! data.{key}.value invalid")
        number = self.book.record(kind, body)
        answer: dict[str, Any] = {"errcode": 0, "errmsg": "ok"}
        if kind == "wechat_template":
            answer["msgid"] = 2_000_000_000 + number
        return json_answer(answer)


def _field_valid(key: str, value: str) -> bool:
    match = FIELD_KEY.match(key)
    rule = FIELD_RULES.get(match.group(1)) if match else None
    if rule is None:
        return bool(value)
    limit, pattern = rule
    return 0 < len(value) <= limit and (pattern is None or bool(pattern.match(value)))
