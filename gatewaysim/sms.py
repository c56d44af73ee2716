"""An Aliyun-style SMS provider (dysmsapi ``SendSms``, RPC signature version 1.0) on ``/sms/``.

The request's parameters come in the query string or a form body. The signature is checked here
on its own terms: HMAC-SHA1 with "<AccessKeySecret>&" over
``METHOD&%2F&percent(sorted k=v&...)`` (RFC 3986 encoding, Signature left out). Then the
timestamp (±15 min), the nonce (once per 15 min: ``SignatureNonceUsed``), the phone numbers, the
sign name, the template code and the JSON template parameters (35 characters a value) are
checked, and the message is recorded. Answers are Aliyun's JSON (``Code`` "OK" with a
``BizId``, or an error code and ``Message``).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import re
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from .exchange import Answer, Exchange
from .keys import SMS_ACCESS_KEY_ID, SMS_SIGN_NAME
from .messaging import HTTP_500, SYSTEM_ERROR, THROTTLED, MessageBook, json_answer

if TYPE_CHECKING:
    from .server import GatewaySimulator

PATH = "sms/"
WINDOW_SECONDS = 15 * 60
PHONE = re.compile(r"^1\d{10}$")
TEMPLATE_CODE = re.compile(r"^SMS_\d{6,}$")
MAX_PARAM_LENGTH = 35
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
REQUIRED = (
    "Action",
    "AccessKeyId",
    "Signature",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "Timestamp",
    "PhoneNumbers",
    "SignName",
    "TemplateCode",
)


def percent(text: str) -> str:
    """RFC 3986 percent-encoding, byte by byte: what Aliyun's signature version 1.0 asks for."""
    return "".join(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in text.encode("utf-8"))


def string_to_sign(method: str, params: dict[str, str]) -> str:
    canonical = "&".join(f"{percent(k)}={percent(v)}" for k, v in sorted(params.items()) if k != "Signature")
    return f"{method}&{percent('/')}&{percent(canonical)}"


def signature(secret: str, method: str, params: dict[str, str]) -> str:
    digest = hmac.new(f"{secret}&".encode(), string_to_sign(method, params).encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _error(code: str, message: str, status: int = 200) -> Answer:
    return json_answer({"Code": code, "Message": message, "RequestId": secrets.token_hex(16).upper()}, status=status)


class SmsEndpoint:
    def __init__(self, sim: GatewaySimulator, book: MessageBook) -> None:
        self.sim = sim
        self.book = book

    def route(self, exchange: Exchange) -> Answer | None:
        if exchange.path.rstrip("/") + "/" != PATH or exchange.method not in ("GET", "POST"):
            return None
        self.sim.count(PATH)
        return self.send(exchange)

    def send(self, exchange: Exchange) -> Answer:
        params = dict(parse_qsl(exchange.query, keep_blank_values=True))
        if exchange.method == "POST" and exchange.body:
            params.update(parse_qsl(exchange.body.decode("utf-8", "replace"), keep_blank_values=True))
        missing = [name for name in REQUIRED if not params.get(name)]
        if missing:
            return _error("MissingParameter", f"The input parameter {missing[0]} that is mandatory is missing", 400)
        if params["Action"] != "SendSms":
            return _error("InvalidAction.NotFound", "Specified api is not found", 404)
        if params["AccessKeyId"] != SMS_ACCESS_KEY_ID:
            return _error("InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404)
        if params["SignatureMethod"] != "HMAC-SHA1" or params["SignatureVersion"] != "1.0":
            return _error("InvalidSignatureMethod", "Specified signature method is not supported.", 400)
        expected = signature(self.sim.material.sms_access_key_secret, exchange.method, params)
        if not hmac.compare_digest(params["Signature"], expected):
            return _error("SignatureDoesNotMatch", "Specified signature is not matched with our calculation.", 400)
        try:
            sent_at = datetime.datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
        except ValueError:
            return _error("InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.", 400)
        if abs((datetime.datetime.now(datetime.UTC) - sent_at).total_seconds()) > WINDOW_SECONDS:
            return _error("InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.", 400)
        fault = self.book.take_fault("sms")
        if fault == HTTP_500:  # before the nonce is taken: the same request can come again
            return Answer.server_error()
        if not self.book.use_nonce(params["SignatureNonce"], WINDOW_SECONDS):
            return _error("SignatureNonceUsed", "Specified signature nonce was used already.", 400)
        if fault == THROTTLED:
            return _error("isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1")
        if fault == SYSTEM_ERROR:
            return _error("isp.SYSTEM_ERROR", "系统错误")
        if fault is not None:
            return _error(fault, "simulated error")
        numbers = params["PhoneNumbers"].split(",")
        if not all(PHONE.match(number) for number in numbers):
            return _error("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        if params["SignName"] != SMS_SIGN_NAME:
            return _error("isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名")
        if not TEMPLATE_CODE.match(params["TemplateCode"]):
            return _error("isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板")
        try:
            template_params: Any = json.loads(params.get("TemplateParam") or "{}")
        except ValueError:
            template_params = None
        if not isinstance(template_params, dict) or not all(isinstance(v, str) for v in template_params.values()):
            return _error("isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        if any(len(value) > MAX_PARAM_LENGTH for value in template_params.values()):
            return _error("isv.PARAM_LENGTH_LIMIT", "参数超出长度限制")
        number = self.book.record("sms", dict(params) | {"TemplateParam": template_params})
        biz_id = f"{number:06d}^{secrets.randbelow(10**10):010d}"
        return json_answer({"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": secrets.token_hex(16).upper()})
