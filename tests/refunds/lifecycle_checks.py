"""Checks for the lifecycle tests: what a request looks like in the database, and refusals that change nothing."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from refunds.models import (
    ApprovalStep,
    QuoteSnapshot,
    RefundEvent,
    RefundEvidence,
    RefundRequest,
    RefundTransition,
)
from refunds.selectors import approval_settings_for
from refunds.services import RefundActionError, quote_snapshot_create, refund_quote

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32


def footprint(request_id: int) -> dict:
    """Everything a lifecycle action may change about one request, as comparable plain data."""
    request = RefundRequest.objects.get(pk=request_id)
    return {
        "status": request.status,
        "route": list(request.route),
        "route_position": request.route_position,
        "approved_amount": request.approved_amount,
        "amount_confirmed": request.amount_confirmed,
        "returned_tier": request.returned_tier,
        "rejected_tier": request.rejected_tier,
        "appealed_at": request.appealed_at,
        "decided_at": request.decided_at,
        "details": request.details,
        "steps": list(
            ApprovalStep.objects.filter(request_id=request_id)
            .order_by("pk")
            .values_list("pk", "tier", "decision", "decided_by", "escalated_to")
        ),
        "transitions": RefundTransition.objects.filter(request_id=request_id).count(),
        "events": RefundEvent.objects.filter(request_id=request_id).count(),
        "history": request.history.count(),
        "evidence": RefundEvidence.objects.filter(request_id=request_id).count(),
    }


def table_counts() -> dict[str, int]:
    """Row counts of every table a submission writes to."""
    return {
        "requests": RefundRequest.objects.count(),
        "history": RefundRequest.history.count(),
        "snapshots": QuoteSnapshot.objects.count(),
        "steps": ApprovalStep.objects.count(),
        "transitions": RefundTransition.objects.count(),
        "events": RefundEvent.objects.count(),
        "evidence": RefundEvidence.objects.count(),
    }


def assert_refused(
    action: Callable[[], object], *, code: str, request: RefundRequest | None = None
) -> RefundActionError:
    """``action`` raises ``RefundActionError`` with ``code`` and leaves the request (or every table) as it was."""
    before = footprint(request.pk) if request is not None else table_counts()
    with pytest.raises(RefundActionError) as excinfo:
        action()
    assert excinfo.value.code == code, excinfo.value.message
    after = footprint(request.pk) if request is not None else table_counts()
    assert after == before
    return excinfo.value


def log_of(request: RefundRequest) -> list[tuple[str, str, str]]:
    """The transition log as (name, from, to), in order."""
    return list(
        RefundTransition.objects.filter(request=request)
        .order_by("created_at", "pk")
        .values_list("name", "from_status", "to_status")
    )


def event_kinds(request: RefundRequest) -> list[str]:
    return list(RefundEvent.objects.filter(request=request).order_by("created_at", "pk").values_list("kind", flat=True))


def upload(name: str, content: bytes, content_type: str = "application/octet-stream") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def approved_refund(order, *, at: datetime.datetime, status: str = "approved") -> RefundRequest:
    """An earlier refund of ``order``'s student, written straight to ``status`` (payouts come later)."""
    quote = refund_quote(order=order, reason="time_conflict", at=at)
    snapshot = quote_snapshot_create(quote=quote)
    return RefundRequest.objects.create(
        request_no=f"RFOLD{order.pk:010d}",
        order=order,
        student=order.student,
        campus_id=order.course.campus_id,
        status=status,
        reason="time_conflict",
        quote=snapshot,
        requested_amount=quote.total,
        approved_amount=quote.total,
        route=["homeroom", "auto"],
        route_position=2,
        submitted_at=at,
        decided_at=at,
    )


def set_settings(campus, **values) -> None:
    """Save the campus's approval settings with ``values`` changed from the defaults."""
    settings = approval_settings_for(campus=campus)
    for field, value in values.items():
        setattr(settings, field, Decimal(value) if isinstance(value, str) else value)
    settings.save()
