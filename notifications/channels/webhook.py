"""Staff group robots: DingTalk (markdown, 加签 signing), WeCom (markdown) and Slack-style JSON.

The target comes with the recipient (``Recipient.webhook``). None of these robots takes an
idempotency key, so a retry after an unknown outcome may post twice: harmless in a staff group.
``settings.NOTIFY_WEBHOOKS`` may name a CA bundle to trust (development: the local simulator's;
a bundle that is not there yet is ignored) and a timeout.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlsplit

import requests
from django.conf import settings

from schoolops.http import DEFAULT_TIMEOUT, PinnedCASession

from .base import (
    Channel,
    ChannelPermanentError,
    ChannelTemporaryError,
    OutgoingMessage,
    Recipient,
    RetryPolicy,
    WebhookTarget,
    register_channel,
)

KINDS = ("dingtalk", "wecom", "slack")
WECOM_MAX_CONTENT_BYTES = 4096
# Robot answer codes after which the same post may succeed later.
TEMPORARY_ERRCODES = {
    "dingtalk": frozenset({-1, 130101}),  # busy; "send too fast" (20 a minute per robot)
    "wecom": frozenset({-1, 45009, 45033}),  # busy; frequency limit; too many concurrent calls
}


def dingtalk_signed_url(url: str, secret: str, *, timestamp_ms: int | None = None) -> str:
    """``url`` with DingTalk's ``timestamp`` (ms) and ``sign``: URL-encoded base64 of
    HMAC-SHA256(secret, "timestamp\\nsecret")."""
    timestamp = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    sign = quote_plus(base64.b64encode(digest).decode())
    separator = "&" if urlsplit(url).query else "?"
    return f"{url}{separator}timestamp={timestamp}&sign={sign}"


def markdown_text(message: OutgoingMessage) -> str:
    text = f"#### {message.subject}\n\n{message.body}" if message.subject else message.body
    if message.link:
        text += f"\n\n[{message.link}]({message.link})"
    return text


def _truncate_utf8(text: str, limit: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[: limit - 3].decode("utf-8", "ignore") + "…"


def _config() -> tuple[str, float]:
    values: Any = getattr(settings, "NOTIFY_WEBHOOKS", None) or {}
    ca_bundle = str(values.get("CA_BUNDLE") or "")
    if ca_bundle and not Path(ca_bundle).is_file():
        ca_bundle = ""  # development default before the simulator made its CA: the system's trust
    return ca_bundle, float(values.get("TIMEOUT") or DEFAULT_TIMEOUT)


@register_channel
class WebhookChannel(Channel):
    name = "webhook"
    # A robot's rate limit (20 a minute) or outage: five attempts, waits of 30 s doubling (at most 7.5 min).
    retry = RetryPolicy(attempts=5, first_wait=30, max_wait=1800)

    def can_reach(self, recipient: Recipient) -> bool:
        target = recipient.webhook
        return target is not None and target.kind in KINDS and bool(target.url)

    def check_template(self, *, subject: str, body: str, fields: dict[str, str]) -> list[str]:
        problems = super().check_template(subject=subject, body=body, fields=fields)
        sample = OutgoingMessage(0, self.name, "", Recipient(None, ""), subject=subject, body=body)
        if len(markdown_text(sample).encode("utf-8")) > WECOM_MAX_CONTENT_BYTES:
            problems.append(f"text longer than WeCom robots take ({WECOM_MAX_CONTENT_BYTES} bytes); it would be cut")
        return problems

    def payload(self, target: WebhookTarget, message: OutgoingMessage) -> dict[str, Any]:
        if target.kind == "dingtalk":
            return {
                "msgtype": "markdown",
                "markdown": {"title": message.subject or message.event, "text": markdown_text(message)},
            }
        if target.kind == "wecom":
            content = _truncate_utf8(markdown_text(message), WECOM_MAX_CONTENT_BYTES)
            return {"msgtype": "markdown", "markdown": {"content": content}}
        text = f"*{message.subject}*\n{message.body}" if message.subject else message.body
        if message.link:
            text += f"\n<{message.link}>"
        return {"text": text}

    def send(self, message: OutgoingMessage) -> str:
        target = message.recipient.webhook
        if target is None or not target.url:
            raise ChannelPermanentError("the recipient has no webhook", code="no-webhook")
        if target.kind not in KINDS:
            raise ChannelPermanentError(f"unknown webhook kind {target.kind!r}", code="kind")
        if urlsplit(target.url).scheme not in ("https", "http"):
            raise ChannelPermanentError(f"not an HTTP(S) webhook URL: {target.url!r}", code="url")
        url = target.url
        if target.kind == "dingtalk" and target.secret:
            url = dingtalk_signed_url(url, target.secret)
        ca_bundle, timeout = _config()
        session = PinnedCASession(ca_bundle, timeout=timeout)
        try:
            response = session.post(url, json=self.payload(target, message), timeout=timeout, allow_redirects=False)
        except requests.RequestException as exc:
            raise ChannelTemporaryError(f"{target.kind} robot unreachable: {exc}", code="network") from exc
        finally:
            session.close()
        return self._outcome(target, response)

    @staticmethod
    def _outcome(target: WebhookTarget, response: requests.Response) -> str:
        status = response.status_code
        if status >= 500 or status == 429:
            raise ChannelTemporaryError(f"{target.kind} robot answered HTTP {status}", code=str(status))
        if status != 200:
            raise ChannelPermanentError(
                f"{target.kind} robot answered HTTP {status}: {response.text[:200]}", code=str(status)
            )
        if target.kind == "slack":
            if response.text.strip() != "ok":
                raise ChannelPermanentError(f"slack webhook answered {response.text[:200]!r}", code="answer")
            return ""
        try:
            answer = response.json()
            errcode = int(answer.get("errcode", -1))
        except (ValueError, TypeError, AttributeError) as exc:
            raise ChannelTemporaryError(f"{target.kind} robot answered no JSON", code="answer") from exc
        if errcode == 0:
            return ""
        text = f"{target.kind} robot: {errcode} {answer.get('errmsg', '')}"
        if errcode in TEMPORARY_ERRCODES[target.kind]:
            raise ChannelTemporaryError(text, code=str(errcode))
        raise ChannelPermanentError(text, code=str(errcode))  # bad sign (310000), bad key (93000), ...
