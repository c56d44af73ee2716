"""SMS through an Aliyun-style provider: dysmsapi ``SendSms`` with RPC signature version 1.0.

One signed form POST per message to ``settings.SMS["URL"]`` (the local simulator in development
and tests). ``SignatureNonce`` is derived from the delivery id, so a retry after an unknown
outcome (timeout, dropped connection, HTTP 5xx) is the same request and the provider refuses to
run it twice (``SignatureNonceUsed``: the earlier one got there, so the message counts as sent).
After a definite "not sent" answer (throttled, provider busy) the next attempt takes a new
nonce: a counter per delivery in the cache (Redis in production) moves it on.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote

import requests
from django.conf import settings
from django.core.cache import cache

from schoolops.http import PinnedCASession

from ._http import settings_block, timeout_of
from .base import (
    Channel,
    ChannelPermanentError,
    ChannelTemporaryError,
    OutgoingMessage,
    Recipient,
    RetryPolicy,
    register_channel,
)

logger = logging.getLogger(__name__)

MAINLAND_MOBILE = re.compile(r"^1\d{10}$")
MAX_FIELD_LENGTH = 35  # Aliyun's limit for one template variable's value
# Chinese SMS billing: one message holds 70 characters; a longer one is sent in parts of 67 each
# (the rest carries the joining header). The provider puts the signature 【SIGN_NAME】 before the
# text, and it counts.
SINGLE_MESSAGE_CHARS = 70
LONG_MESSAGE_PART_CHARS = 67


@dataclass(frozen=True)
class SmsLength:
    signature: str
    characters: int  # the signature included
    segments: int


def sms_length(body: str, *, sign_name: str | None = None) -> SmsLength:
    """How the provider counts ``body`` once signed: characters and billed messages."""
    if sign_name is None:
        sign_name = str(getattr(settings, "SMS", {}).get("SIGN_NAME") or "")
    signature = f"【{sign_name}】" if sign_name else ""
    characters = len(signature) + len(body)
    if characters == 0:
        segments = 0
    elif characters <= SINGLE_MESSAGE_CHARS:
        segments = 1
    else:
        segments = -(-characters // LONG_MESSAGE_PART_CHARS)
    return SmsLength(signature=signature, characters=characters, segments=segments)


NONCE_NAMESPACE = uuid.UUID("5b0e7c52-6f0a-4b8e-9d1e-2f3c4a5b6c7d")
NONCE_GENERATION_TTL = 2 * 24 * 3600

# Answer codes after which the same message may go out later (nothing was sent).
TEMPORARY_CODES = frozenset(
    {
        "isv.BUSINESS_LIMIT_CONTROL",  # per-number minute/hour/day flow control
        "isv.DAY_LIMIT_CONTROL",
        "isv.AMOUNT_NOT_ENOUGH",  # account balance: finance tops it up
        "isv.OUT_OF_SERVICE",
        "Throttling",
        "Throttling.User",
        "Throttling.Api",
        "ServiceUnavailable",
        "InternalError",
        "InvalidTimeStamp.Expired",  # our clock is off
    }
)


def normalize_phone(phone: str) -> str:
    """A mainland mobile number as the provider wants it (11 digits), or "" when it is not one."""
    digits = re.sub(r"[\s-]", "", phone or "")
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix) :]
            break
    return digits if MAINLAND_MOBILE.match(digits) else ""


def percent_encode(text: str) -> str:
    """RFC 3986 encoding as Aliyun's signature version 1.0 defines it ("~" kept, space as %20)."""
    return quote(text, safe="~")


def sign(params: dict[str, str], *, secret: str, method: str = "POST") -> str:
    """Aliyun RPC signature V1: base64(HMAC-SHA1(secret + "&", METHOD&%2F&encode(canonical query)))."""
    canonical = "&".join(
        f"{percent_encode(key)}={percent_encode(params[key])}" for key in sorted(params) if key != "Signature"
    )
    string_to_sign = f"{method}&{percent_encode('/')}&{percent_encode(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _generation_key(delivery_id: int) -> str:
    return f"notifications:sms-nonce-generation:{delivery_id}"


def signature_nonce(delivery_id: int) -> str:
    """The same for every attempt of a delivery until a definite refusal moves it on."""
    generation = cache.get(_generation_key(delivery_id), 0)
    return str(uuid.uuid5(NONCE_NAMESPACE, f"{delivery_id}:{generation}"))


def _next_nonce(delivery_id: int) -> None:
    key = _generation_key(delivery_id)
    cache.set(key, cache.get(key, 0) + 1, NONCE_GENERATION_TTL)


@register_channel
class SmsChannel(Channel):
    name = "sms"
    # The provider's throttling and outages pass: six attempts, waits of 30 s doubling (at most 15 min).
    retry = RetryPolicy(attempts=6, first_wait=30, max_wait=1800)
    max_body_length: ClassVar[int | None] = 500  # billed per 70-character segment, a few at most

    def can_reach(self, recipient: Recipient) -> bool:
        return bool(normalize_phone(recipient.phone))

    def check_template(self, *, subject: str, body: str, fields: dict[str, str]) -> list[str]:
        problems = super().check_template(subject=subject, body=body, fields=fields)
        for key, value in fields.items():
            if len(value) > MAX_FIELD_LENGTH:
                problems.append(f"SMS field {key!r} longer than {MAX_FIELD_LENGTH} characters")
        return problems

    def send(self, message: OutgoingMessage) -> str:
        config = settings_block("SMS", required=("URL", "ACCESS_KEY_ID", "ACCESS_KEY_SECRET", "SIGN_NAME"))
        phone = normalize_phone(message.recipient.phone)
        if not phone:
            raise ChannelPermanentError(f"not a mainland mobile number: {message.recipient.phone!r}", code="no-phone")
        if not message.provider_template_id:
            raise ChannelPermanentError("the SMS template has no provider template code", code="no-template")
        params = {
            "Action": "SendSms",
            "Version": "2017-05-25",
            "Format": "JSON",
            "RegionId": "cn-hangzhou",
            "AccessKeyId": str(config["ACCESS_KEY_ID"]),
            "SignatureMethod": "HMAC-SHA1",
            "SignatureVersion": "1.0",
            "SignatureNonce": signature_nonce(message.delivery_id),
            "Timestamp": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "PhoneNumbers": phone,
            "SignName": str(config["SIGN_NAME"]),
            "TemplateCode": message.provider_template_id,
            "TemplateParam": json.dumps(message.fields, ensure_ascii=False, separators=(",", ":")),
            "OutId": str(message.delivery_id),  # echoed in the provider's delivery receipts
        }
        params["Signature"] = sign(params, secret=str(config["ACCESS_KEY_SECRET"]))
        session = PinnedCASession(str(config.get("CA_BUNDLE") or ""))
        try:
            response = session.post(
                str(config["URL"]),
                data=params,
                timeout=timeout_of(config),
                headers={"Accept": "application/json"},
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise ChannelTemporaryError(f"SMS provider unreachable: {exc}", code="network") from exc
        finally:
            session.close()
        return self._outcome(message, response)

    def _outcome(self, message: OutgoingMessage, response: requests.Response) -> str:
        try:
            answer: Any = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or "Code" not in answer:
            if response.status_code >= 500 or response.status_code == 429:
                raise ChannelTemporaryError(f"SMS provider answered HTTP {response.status_code}", code="http")
            raise ChannelPermanentError(f"SMS provider answered HTTP {response.status_code}", code="http")
        code = str(answer["Code"])
        text = f"SMS provider: {code} {answer.get('Message', '')}".strip()
        if code == "OK":
            return str(answer.get("BizId") or "")
        if code == "SignatureNonceUsed":
            # An earlier attempt of this very request reached the provider: it is not sent twice.
            logger.info("SMS delivery %s: the provider already had this request", message.delivery_id)
            return ""
        if code in TEMPORARY_CODES or code.startswith("isp."):
            _next_nonce(message.delivery_id)  # refused, not sent: the next attempt is a new request
            raise ChannelTemporaryError(text, code=code)
        if response.status_code >= 500:
            raise ChannelTemporaryError(text, code=code)  # outcome unknown: the same request again
        raise ChannelPermanentError(text, code=code)
