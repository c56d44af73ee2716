"""WeChat messages through wechatpy: official-account template messages, or mini-program
subscribe messages when ``settings.WECHAT_MP["MODE"]`` is "mini_program".

One channel, one mode per deployment: a recipient has one openid, and an openid belongs to one
app (the official account or the mini program), so the school's setting says which app it is.
The access token lives in Redis when ``REDIS_URL`` is set (every worker shares it; fetching a
new one invalidates the old one at WeChat), otherwise in this process's memory.
"""

from __future__ import annotations

import functools
import re
import threading
from typing import Any

import requests
from django.conf import settings
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session.memorystorage import MemoryStorage

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

OFFICIAL_ACCOUNT = "official_account"
MINI_PROGRAM = "mini_program"
DEFAULT_API_BASE = "https://api.weixin.qq.com/"
DEFAULT_TOKEN_URL = "https://api.weixin.qq.com/cgi-bin/token"  # noqa: S105 - a URL

TOKEN_REJECTED = frozenset({40001, 40014, 42001})  # invalid / malformed / expired access token
TEMPORARY_ERRCODES = frozenset({-1, 45009, 45011, 45047})  # busy, daily/minute quota, too many
# Answers to a token request that mean our appid/secret/IP whitelist is wrong.
TOKEN_CONFIG_ERRCODES = frozenset({40002, 40013, 40125, 40164, 41002, 41004})

# WeChat's limits for message fields by key prefix (thing1, amount2, ...): length and format.
FIELD_RULES: dict[str, tuple[int, re.Pattern[str] | None, str]] = {
    "thing": (20, None, "up to 20 characters"),
    "character_string": (32, re.compile(r"^[\x21-\x7e]+$"), "up to 32 letters, digits or symbols"),
    "phrase": (5, re.compile(r"^[\u4e00-\u9fff]+$"), "up to 5 Chinese characters"),
    "amount": (11, re.compile(r"^[¥￥]?\d+(\.\d{1,2})?元?$"), "an amount such as 12.50 or 12.50元"),
    "number": (32, re.compile(r"^\d+(\.\d+)?$"), "a number"),
    "date": (
        30,
        re.compile(r"^\d{4}[-年/]\d{1,2}[-月/]\d{1,2}日?( \d{1,2}:\d{2}(:\d{2})?)?$"),
        "a date such as 2026-12-02 or 2026年12月2日 (a time may follow)",
    ),
    "time": (
        30,
        re.compile(r"^(\d{4}[-年/]\d{1,2}[-月/]\d{1,2}日? )?\d{1,2}:\d{2}(:\d{2})?$"),
        "a time such as 15:01",
    ),
    "name": (10, None, "up to 10 characters"),
    "phone_number": (17, re.compile(r"^[\d+\-() ]+$"), "a phone number"),
}
FIELD_KEY = re.compile(r"^([a-z_]+?)(\d+)$")

_memory_storage = MemoryStorage()
_storage_lock = threading.Lock()


def field_problems(fields: dict[str, str]) -> list[str]:
    """WeChat's limits on each field, checked by the key's prefix; unprefixed keys only non-empty."""
    problems = []
    for key, value in fields.items():
        match = FIELD_KEY.match(key)
        rule = FIELD_RULES.get(match.group(1)) if match else None
        if not value:
            problems.append(f"WeChat field {key!r} is empty")
        elif rule is not None:
            limit, pattern, what = rule
            if len(value) > limit or (pattern is not None and not pattern.match(value)):
                problems.append(f"WeChat field {key!r} must be {what}: {value!r}")
    return problems


def token_storage() -> Any:
    """Where access tokens are kept: Redis shared by all workers, or this process's memory."""
    redis_url = str(getattr(settings, "REDIS_URL", "") or "")
    if not redis_url:
        return _memory_storage
    return _redis_storage(redis_url)


@functools.cache
def _redis_storage(redis_url: str) -> Any:
    """One connection pool per process and URL."""
    import redis
    from wechatpy.session.redisstorage import RedisStorage

    return RedisStorage(redis.Redis.from_url(redis_url), prefix="schoolops:wechatpy")


def forget_access_tokens() -> None:
    """Drop the access tokens kept in this process (tests; a changed secret)."""
    with _storage_lock:
        _memory_storage._data.clear()


class _ConfiguredClient(WeChatClient):
    """A WeChatClient whose token URL comes from the settings (wechatpy hard-codes WeChat's)."""

    token_url = DEFAULT_TOKEN_URL

    def fetch_access_token(self) -> dict[str, Any]:
        token: dict[str, Any] = self._fetch_access_token(
            url=self.token_url,
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )
        return token


@register_channel
class WeChatChannel(Channel):
    name = "wechat"
    # WeChat's busy answers and quotas pass: six attempts, waits of 30 s doubling (at most 15 min).
    retry = RetryPolicy(attempts=6, first_wait=30, max_wait=1800)

    def can_reach(self, recipient: Recipient) -> bool:
        return bool(recipient.wechat_openid)

    def check_template(self, *, subject: str, body: str, fields: dict[str, str]) -> list[str]:
        problems = super().check_template(subject=subject, body=body, fields=fields)
        if not fields:
            problems.append("a WeChat message needs its template's fields")
        return problems + field_problems(fields)

    def client(self) -> _ConfiguredClient:
        config = settings_block("WECHAT_MP", required=("APPID", "SECRET"))
        client = _ConfiguredClient(
            str(config["APPID"]),
            str(config["SECRET"]),
            session=token_storage(),
            timeout=timeout_of(config),
            auto_retry=False,  # wechatpy would refresh and retry without end; we do it once
        )
        api_base = str(config.get("API_BASE") or DEFAULT_API_BASE).rstrip("/") + "/"
        client.API_BASE_URL = api_base + "cgi-bin/"
        client.wxa.API_BASE_URL = api_base
        client.token_url = str(config.get("TOKEN_URL") or DEFAULT_TOKEN_URL)
        # wechatpy builds its own requests.Session and offers no other hook for the CA bundle.
        client._http = PinnedCASession(str(config.get("CA_BUNDLE") or ""), timeout=timeout_of(config))
        return client

    def mode(self) -> str:
        mode = str(settings_block("WECHAT_MP").get("MODE") or OFFICIAL_ACCOUNT)
        if mode not in (OFFICIAL_ACCOUNT, MINI_PROGRAM):
            raise ChannelPermanentError(f"settings.WECHAT_MP['MODE'] is {mode!r}", code="config")
        return mode

    def send(self, message: OutgoingMessage) -> str:
        openid = message.recipient.wechat_openid
        if not openid:
            raise ChannelPermanentError("the recipient has no WeChat openid", code="no-openid")
        if not message.provider_template_id:
            raise ChannelPermanentError("the WeChat template has no template id", code="no-template")
        problems = field_problems(message.fields)
        if problems:
            raise ChannelPermanentError("; ".join(problems), code="fields")
        mode = self.mode()
        client = self.client()
        data = {key: {"value": value} for key, value in message.fields.items()}
        try:
            try:
                answer = self._post(client, mode, message, openid, data)
            except WeChatClientException as exc:
                if exc.errcode not in TOKEN_REJECTED:
                    raise
                client.fetch_access_token()  # once: a token rejected twice is a configuration problem
                answer = self._post(client, mode, message, openid, data)
        except WeChatClientException as exc:
            raise self._error(exc) from exc
        except requests.RequestException as exc:
            raise ChannelTemporaryError(f"WeChat unreachable: {exc}", code="network") from exc
        finally:
            client._http.close()
        return str(answer.get("msgid", "")) if isinstance(answer, dict) else ""

    def _post(
        self, client: _ConfiguredClient, mode: str, message: OutgoingMessage, openid: str, data: dict[str, Any]
    ) -> Any:
        if mode == MINI_PROGRAM:
            page = str(settings_block("WECHAT_MP").get("MINI_PAGE") or "")
            if page and message.refund_request_id is not None:
                page = f"{page}?id={message.refund_request_id}"
            return client.wxa.send_subscribe_message(openid, message.provider_template_id, data, page=page or None)
        return client.message.send_template(openid, message.provider_template_id, data, url=message.link or None)

    @staticmethod
    def _error(exc: WeChatClientException) -> Exception:
        errcode = exc.errcode
        text = f"WeChat: {errcode} {exc.errmsg}"
        if errcode is None:  # an HTTP error: no answer from WeChat's application
            status = exc.response.status_code if exc.response is not None else None
            if status is None or status >= 500 or status == 429:
                return ChannelTemporaryError(f"WeChat answered HTTP {status}", code="http")
            return ChannelPermanentError(f"WeChat answered HTTP {status}", code="http")
        code = str(errcode)
        if errcode in TEMPORARY_ERRCODES:
            return ChannelTemporaryError(text, code=code)
        if errcode in TOKEN_REJECTED or errcode in TOKEN_CONFIG_ERRCODES:
            # Our appid / secret / IP whitelist: fixed in configuration, then the message can go.
            return ChannelTemporaryError(f"{text} (check settings.WECHAT_MP)", code=code)
        return ChannelPermanentError(text, code=code)
