"""The learning platform's request signature: HMAC-SHA256 over ``b"<timestamp>." + body``.

The platform sends the unix timestamp in ``X-Schoolops-Timestamp`` and the lowercase hex digest
in ``X-Schoolops-Signature``. A request is accepted only inside the clock-skew window; replays
inside the window are refused by storing each accepted signature (see ``students.services``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time

from django.conf import settings

TIMESTAMP_HEADER = "X-Schoolops-Timestamp"
SIGNATURE_HEADER = "X-Schoolops-Signature"

_TIMESTAMP_RE = re.compile(r"[0-9]{1,12}")
_SIGNATURE_RE = re.compile(r"[0-9a-f]{64}")


class SignatureRejected(Exception):
    """The request is not provably from the learning platform; ``reason`` says why (never a secret)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def platform_signature(*, secret: str, timestamp: str, body: bytes) -> str:
    """The hex HMAC-SHA256 the platform sends for ``body`` at ``timestamp``."""
    message = timestamp.encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify_platform_signature(
    *, body: bytes, timestamp: str | None, signature: str | None, now: float | None = None
) -> None:
    """Raise ``SignatureRejected`` unless ``signature`` signs ``body`` at a timestamp inside the window."""
    secret = settings.LEARNING_PLATFORM_SECRET
    if not secret:
        raise SignatureRejected("ingestion is not configured")
    if not timestamp or not signature:
        raise SignatureRejected(f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header")
    if not _TIMESTAMP_RE.fullmatch(timestamp):
        raise SignatureRejected("malformed timestamp")
    if not _SIGNATURE_RE.fullmatch(signature):
        raise SignatureRejected("malformed signature")
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > settings.LEARNING_PLATFORM_MAX_SKEW_SECONDS:
        raise SignatureRejected("timestamp outside the allowed window")
    expected = platform_signature(secret=secret, timestamp=timestamp, body=body)
    if not hmac.compare_digest(expected, signature):
        raise SignatureRejected("signature does not match")
