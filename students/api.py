"""The signed JSON endpoints other systems post to: learning events and orders.

Protocol, the same for both senders (each with its own secret, ``students.signing``): ``POST``
with a JSON body and the headers ``X-Schoolops-Timestamp`` (unix seconds) and
``X-Schoolops-Signature`` (hex HMAC-SHA256 of ``b"<timestamp>." + body`` with the shared
secret). Answers are JSON: 400 bad JSON or invalid items (``errors`` name each field), 401 bad
signature or timestamp, 405 not POST, 409 replayed request (or a concurrent one wrote the same
items first: send again), 413 body too large.

``POST /api/learning/events/`` takes ``{"events": [...]}`` and answers 200
``{"accepted": n, "duplicates": m}``; ``POST /api/orders/`` takes ``{"orders": [...]}`` and
answers 200 ``{"created": n, "updated": m, "unchanged": k}``.

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

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.utils import translation
from django.views.decorators.csrf import csrf_exempt

from . import services
from .models import LearningEventSource
from .signing import (
    LEARNING_PLATFORM,
    ORDER_SYSTEM,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Sender,
    SignatureRejected,
    verify_signature,
)

logger = logging.getLogger(__name__)


def _reject(request: HttpRequest, sender: Sender, status: int, error: str, **extra: Any) -> JsonResponse:
    logger.warning(
        "Request from the %s rejected with %d: %s (from %s)",
        sender.label,
        status,
        error,
        request.META.get("REMOTE_ADDR", "?"),
    )
    return JsonResponse({"error": error, **extra}, status=status)


def _declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _signed_payload(request: HttpRequest, sender: Sender) -> tuple[Any, str] | JsonResponse:
    """The decoded JSON body of a request ``sender`` signed, with its signature (the replay
    nonce); or the refusal to answer with."""
    if request.method != "POST":
        response = _reject(request, sender, 405, "method not allowed")
        response["Allow"] = "POST"
        return response

    max_bytes = sender.max_body_bytes
    if _declared_length(request) > max_bytes:
        return _reject(request, sender, 413, f"body larger than {max_bytes} bytes")
    try:
        body = request.body
    except RequestDataTooBig:
        return _reject(request, sender, 413, f"body larger than {max_bytes} bytes")
    if len(body) > max_bytes:
        return _reject(request, sender, 413, f"body larger than {max_bytes} bytes")

    signature = request.headers.get(SIGNATURE_HEADER)
    try:
        verify_signature(sender=sender, body=body, timestamp=request.headers.get(TIMESTAMP_HEADER), signature=signature)
    except SignatureRejected as exc:
        return _reject(request, sender, 401, exc.reason)
    assert signature is not None  # noqa: S101 - verified above

    try:
        return json.loads(body), signature
    except (ValueError, RecursionError):
        return _reject(request, sender, 400, "malformed JSON")


def _invalid(request: HttpRequest, sender: Sender, exc: services.IngestionDataError) -> JsonResponse:
    # Messages for the sender's developers: always English, whatever language is active.
    with translation.override("en"):
        errors = [error.as_dict() for error in exc.errors]
    return _reject(request, sender, 400, "validation failed", errors=errors)


@csrf_exempt
def learning_events_receive(request: HttpRequest) -> JsonResponse:
    """Verify the platform's signature, then record the batch of events all or nothing."""
    received = _signed_payload(request, LEARNING_PLATFORM)
    if isinstance(received, JsonResponse):
        return received
    payload, signature = received
    try:
        events = services.learning_events_parse(payload)
        result = services.learning_events_record(events=events, source=LearningEventSource.API, nonce=signature)
    except services.LearningDataError as exc:
        return _invalid(request, LEARNING_PLATFORM, exc)
    except services.IngestionReplayError:
        return _reject(request, LEARNING_PLATFORM, 409, "request already processed (replay)")
    except services.LearningConflictError:
        return _reject(
            request,
            LEARNING_PLATFORM,
            409,
            "a concurrent request stored some of these events; nothing was stored, send again",
        )
    return JsonResponse({"accepted": result.accepted, "duplicates": result.duplicates})


@csrf_exempt
def orders_receive(request: HttpRequest) -> JsonResponse:
    """Verify the order system's signature, then record the batch of orders all or nothing."""
    received = _signed_payload(request, ORDER_SYSTEM)
    if isinstance(received, JsonResponse):
        return received
    payload, signature = received
    try:
        orders = services.orders_parse(payload)
        result = services.orders_record(orders=orders, source="api", nonce=signature)
    except services.OrderDataError as exc:
        return _invalid(request, ORDER_SYSTEM, exc)
    except services.IngestionReplayError:
        return _reject(request, ORDER_SYSTEM, 409, "request already processed (replay)")
    except services.OrderConflictError:
        return _reject(
            request,
            ORDER_SYSTEM,
            409,
            "a concurrent request wrote some of these orders or students; nothing was stored, send again",
        )
    return JsonResponse({"created": result.created, "updated": result.updated, "unchanged": result.unchanged})
