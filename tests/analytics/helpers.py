"""The analytics tests' helpers: raw refund rows written at exact moments (the hand-made school),
and the facts as comparable tuples (to check the kept facts against a rebuild)."""

from __future__ import annotations

import datetime
import itertools
from decimal import Decimal
from typing import Any

from django.utils import timezone

from analytics.models import DailyRollup, RefundFact, RevenueFact, TierFact
from analytics.services import facts_rebuild
from refunds.models import ApprovalStep, RefundRequest, RefundTransition
from refunds.services import quote_snapshot_create, refund_quote
from tests import factories
from tests.refunds.helpers import SH, sh

__all__ = ["SH", "facts_rows", "paid_order", "raw_request", "rebuild", "sh", "step", "move"]

_numbers = itertools.count(1)


def paid_order(*, course, homeroom, amount: str, paid_at: datetime.datetime, channel: str = "wechat"):
    """An order of a new student of the course's campus, paid ``amount`` at ``paid_at``."""
    student = factories.make_student(campus=course.campus)
    return factories.make_order(
        student=student, course=course, homeroom_teacher=homeroom, amount_paid=amount, paid_at=paid_at, channel=channel
    )


def raw_request(
    order, *, reason: str, submitted_at: datetime.datetime, amount: str, status: str = "pending_homeroom"
) -> RefundRequest:
    """A request written straight to the table (no service): the test says what happened when."""
    snapshot = quote_snapshot_create(quote=refund_quote(order=order, reason=reason, at=timezone.now()))
    request = RefundRequest.objects.create(
        request_no=f"RFT{next(_numbers):010d}",
        order=order,
        student=order.student,
        campus_id=order.course.campus_id,
        status=status,
        reason=reason,
        quote=snapshot,
        requested_amount=Decimal(amount),
        approved_amount=Decimal(amount),
        route=["homeroom", "supervisor", "finance"],
        submitted_at=submitted_at,
    )
    RefundTransition.objects.create(
        request=request, name="submit", from_status="", to_status="pending_homeroom", created_at=submitted_at
    )
    return request


def move(request: RefundRequest, from_status: str, to_status: str, at: datetime.datetime) -> None:
    """A row of the transition log (and the request's state with it)."""
    RefundTransition.objects.create(
        request=request, name=to_status, from_status=from_status, to_status=to_status, created_at=at
    )
    RefundRequest.objects.filter(pk=request.pk).update(status=to_status)


def step(
    request: RefundRequest, tier: str, decision: str, created_at: datetime.datetime, decided_at: datetime.datetime
) -> None:
    ApprovalStep.objects.create(
        request=request, tier=tier, decision=decision, created_at=created_at, due_at=created_at, decided_at=decided_at
    )


def facts_rows() -> dict[str, list[tuple[Any, ...]]]:
    """Every fact row, without its id, sorted: two states of the facts compare equal exactly
    when they hold the same figures."""
    fields = {
        model.__name__: [f.attname for f in model._meta.concrete_fields if f.attname != "id"]
        for model in (RefundFact, TierFact, RevenueFact, DailyRollup)
    }
    return {
        model.__name__: sorted((tuple(row) for row in model.objects.values_list(*fields[model.__name__])), key=repr)
        for model in (RefundFact, TierFact, RevenueFact, DailyRollup)
    }


def rebuild(**kwargs: Any) -> int:
    return sum(rows for _first, _last, rows in facts_rebuild(**kwargs))
