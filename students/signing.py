"""The signature of the systems that post to us: HMAC-SHA256 over ``b"<timestamp>." + body``.

Two senders share the protocol, each with its own secret: the learning platform (learning
events) and the school's order system (orders). A sender puts the unix timestamp in
``X-Schoolops-Timestamp`` and the lowercase hex digest in ``X-Schoolops-Signature``. A request is
accepted only inside the sender's clock-skew window; replays inside the window are refused by
storing each accepted signature (``IngestionNonce``, see ``students.services.ingestion``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from dataclasses import dataclass

from django.conf import settings

from .models import IngestionSender

TIMESTAMP_HEADER = "X-Schoolops-Timestamp"
SIGNATURE_HEADER = "X-Schoolops-Signature"

_TIMESTAMP_RE = re.compile(r"[0-9]{1,12}")
_SIGNATURE_RE = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Sender:
    """A system that signs what it posts. Its settings are ``<prefix>_SECRET``,
    ``<prefix>_MAX_SKEW_SECONDS`` and ``<prefix>_MAX_BODY_BYTES``, read when a request comes in."""

    code: str  # an IngestionSender value, stored with each accepted signature
    label: str  # for logs
    settings_prefix: str

    @property
    def secret(self) -> str:
        return str(getattr(settings, f"{self.settings_prefix}_SECRET"))

    @property
    def max_skew_seconds(self) -> int:
        return int(getattr(settings, f"{self.settings_prefix}_MAX_SKEW_SECONDS"))

    @property
    def max_body_bytes(self) -> int:
        return int(getattr(settings, f"{self.settings_prefix}_MAX_BODY_BYTES"))


LEARNING_PLATFORM = Sender(IngestionSender.LEARNING_PLATFORM, "learning platform", "LEARNING_PLATFORM")
ORDER_SYSTEM = Sender(IngestionSender.ORDER_SYSTEM, "order system", "ORDER_SYSTEM")
SENDERS = (LEARNING_PLATFORM, ORDER_SYSTEM)


class SignatureRejected(Exception):
    """The request is not provably from its sender; ``reason`` says why (never a secret)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def request_signature(*, secret: str, timestamp: str, body: bytes) -> str:
    """The hex HMAC-SHA256 a sender sends for ``body`` at ``timestamp``."""
    message = timestamp.encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify_signature(
    *, sender: Sender, body: bytes, timestamp: str | None, signature: str | None, now: float | None = None
) -> None:
    """Raise ``SignatureRejected`` unless ``signature`` is ``sender``'s for ``body`` at a timestamp
    inside its window."""
    secret = sender.secret
    if not secret:
        raise SignatureRejected("ingestion is not configured")
    if not timestamp or not signature:
        raise SignatureRejected(f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header")
    if not _TIMESTAMP_RE.fullmatch(timestamp):
        raise SignatureRejected("malformed timestamp")
    if not _SIGNATURE_RE.fullmatch(signature):
        raise SignatureRejected("malformed signature")
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > sender.max_skew_seconds:
        raise SignatureRejected("timestamp outside the allowed window")
    expected = request_signature(secret=secret, timestamp=timestamp, body=body)
    if not hmac.compare_digest(expected, signature):
        raise SignatureRejected("signature does not match")
