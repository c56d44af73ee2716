"""The signed JSON endpoint the learning platform posts learning events to.

Protocol: ``POST /api/learning/events/`` with a JSON body ``{"events": [...]}`` and the headers
``X-Schoolops-Timestamp`` (unix seconds) and ``X-Schoolops-Signature`` (hex HMAC-SHA256 of
``b"<timestamp>." + body`` with the shared secret). Answers are JSON:
200 ``{"accepted": n, "duplicates": m}``, 400 bad JSON or invalid events (``errors`` name each
field), 401 bad signature or timestamp, 405 not POST, 409 replayed request, 413 body too large.

An event is ``event_id``, ``type`` (``lesson_watched``, ``live_attended``, ``homework_submitted``,
``rating``, ``test_scored``), ``student_no``, ``order_no``, ``lesson_no`` (required except for
ratings and tests, where it is optional for a test: the lesson it belongs to), ``seconds``,
``completed``, ``rating`` (1-5, ratings only), ``score`` (0-100 with at most two decimals, tests
only and required for them) and ``occurred_at``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.utils import translation
from django.views.decorators.csrf import csrf_exempt

from . import services
from .models import LearningEventSource
from .signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureRejected, verify_platform_signature

logger = logging.getLogger(__name__)


def _reject(request: HttpRequest, status: int, error: str, **extra: Any) -> JsonResponse:
    logger.warning(
        "Learning events rejected with %d: %s (from %s)", status, error, request.META.get("REMOTE_ADDR", "?")
    )
    return JsonResponse({"error": error, **extra}, status=status)


def _declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


@csrf_exempt
def learning_events_receive(request: HttpRequest) -> JsonResponse:
    """Verify the platform's signature, then record the batch of events all or nothing."""
    if request.method != "POST":
        response = _reject(request, 405, "method not allowed")
        response["Allow"] = "POST"
        return response

    max_bytes = settings.LEARNING_PLATFORM_MAX_BODY_BYTES
    if _declared_length(request) > max_bytes:
        return _reject(request, 413, f"body larger than {max_bytes} bytes")
    try:
        body = request.body
    except RequestDataTooBig:
        return _reject(request, 413, f"body larger than {max_bytes} bytes")
    if len(body) > max_bytes:
        return _reject(request, 413, f"body larger than {max_bytes} bytes")

    signature = request.headers.get(SIGNATURE_HEADER)
    try:
        verify_platform_signature(body=body, timestamp=request.headers.get(TIMESTAMP_HEADER), signature=signature)
    except SignatureRejected as exc:
        return _reject(request, 401, exc.reason)

    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return _reject(request, 400, "malformed JSON")

    try:
        events = services.learning_events_parse(payload)
        result = services.learning_events_record(events=events, source=LearningEventSource.API, nonce=signature)
    except services.LearningDataError as exc:
        # Messages for the platform's developers: always English, whatever language is active.
        with translation.override("en"):
            errors = [error.as_dict() for error in exc.errors]
        return _reject(request, 400, "validation failed", errors=errors)
    except services.LearningReplayError:
        return _reject(request, 409, "request already processed (replay)")
    except services.LearningConflictError:
        return _reject(request, 409, "a concurrent request stored some of these events; nothing was stored, send again")
    return JsonResponse({"accepted": result.accepted, "duplicates": result.duplicates})
