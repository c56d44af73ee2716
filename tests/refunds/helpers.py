"""The refunds tests' helpers: quotes and policies, orders and submissions, the admin's URLs and
forms, and the checks that a refused action changed nothing."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from orders.models import CourseType
from refunds.admin.decisions import ADJUST, APPROVE, REJECT, RETURN
from refunds.models import (
    ApprovalStep,
    QuoteSnapshot,
    RefundEvent,
    RefundEvidence,
    RefundPolicy,
    RefundRequest,
    RefundSpecialRule,
    RefundTier,
    RefundTransition,
)
from refunds.payee import Payee
from refunds.quotes import OrderFacts, PolicyTerms, Progress, Quote, TierTerms, calculate_quote
from refunds.selectors import approval_settings_for
from refunds.services import RefundActionError, quote_snapshot_create, refund_quote, refund_submit
from tests import factories

# --- quotes and policies ---------------------------------------------------------------

SH = ZoneInfo("Asia/Shanghai")

SEED_TIERS = (
    TierTerms(1, 7, Decimal("100")),
    TierTerms(8, 15, Decimal("80")),
    TierTerms(16, 30, Decimal("50")),
    TierTerms(31, None, Decimal("0")),
)


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0):
    """An aware datetime on the Asia/Shanghai wall clock."""
    return datetime.datetime(year, month, day, hour, minute, second, micro, tzinfo=SH)


PAID_AT = sh(2026, 3, 1, 10)
STARTS_AT = sh(2026, 3, 10, 19)


def facts(
    amount: str = "3000.00",
    *,
    lessons: int = 30,
    refunded: str = "0.00",
    paid_at: datetime.datetime = PAID_AT,
    starts_at: datetime.datetime = STARTS_AT,
) -> OrderFacts:
    return OrderFacts(
        amount_paid=Decimal(amount),
        paid_at=paid_at,
        course_starts_at=starts_at,
        lessons=lessons,
        refunded=Decimal(refunded),
        order_id=None,
    )


def quote(
    terms: PolicyTerms | None = None,
    order: OrderFacts | None = None,
    *,
    progress: Progress | None = None,
    reason: str = "other",
    at: datetime.datetime | None = None,
    in_flight: str = "0.00",
    consumed_override: int | None = None,
) -> Quote:
    return calculate_quote(
        terms=terms or PolicyTerms(),
        order=order or facts(),
        progress=progress or Progress(),
        reason=reason,
        at=at or sh(2026, 3, 3, 12),
        in_flight=Decimal(in_flight),
        consumed_override=consumed_override,
    )


def amounts(q: Quote) -> dict[str, Decimal]:
    return {line.kind: line.amount for line in q.lines}


def make_policy(
    *,
    course_type: str = "",
    course=None,
    tiers: tuple[tuple[int, int | None, str], ...] = (),
    special_rules: tuple[dict, ...] = (),
    **fields,
) -> RefundPolicy:
    """A saved, active policy; an active policy already covering the same scope is deactivated."""
    scope = RefundPolicy.objects.filter(is_active=True)
    if course is not None:
        scope.filter(course=course).update(is_active=False)
    else:
        scope.filter(course__isnull=True, course_type=course_type).update(is_active=False)
    fields.setdefault("name", f"policy for {course or course_type}")
    policy = RefundPolicy.objects.create(course_type="" if course else course_type, course=course, **fields)
    for from_day, to_day, percent in tiers:
        RefundTier.objects.create(policy=policy, from_day=from_day, to_day=to_day, percent=Decimal(percent))
    for rule in special_rules:
        RefundSpecialRule.objects.create(policy=policy, **rule)
    return policy


# --- orders and submissions ------------------------------------------------------------

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def pdf(name: str = "certificate.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PDF, content_type="application/pdf")


def order_at(*, student, homeroom, campus, price: str, course_type: str = CourseType.RECORDED, **enrollment):
    """An order of ``student`` whose default quote (day 4 of the course, 10% fee) is 90% of ``price``."""
    course = factories.make_course(campus=campus, course_type=course_type, price=price)
    return factories.make_order(student=student, course=course, homeroom_teacher=homeroom, **enrollment)


# The account a student names for a refund paid by hand (card or offline orders; ignored otherwise).
PAYEE = Payee(name="李小明", bank="中国工商银行", branch="北京海淀支行", account_no="6222020200112233445")


def submit(order, *, reason: str = "time_conflict", details: str = "上班时间调整，无法继续上课。", **kwargs):
    kwargs.setdefault("payee", PAYEE)
    return refund_submit(student=order.student, order_no=order.order_no, reason=reason, details=details, **kwargs)


def money(value: str) -> Decimal:
    return Decimal(value)


# --- the approval admin ----------------------------------------------------------------

QUEUE_URL = reverse("admin:refunds_approvalqueueitem_changelist")
LIST_URL = reverse("admin:refunds_refundrequest_changelist")
# A valid POST of each decision's form.
DECISION_DATA = {
    APPROVE: {"comment": "同意退费。"},
    REJECT: {"reason": "已超过退费期限。"},
    RETURN: {"missing": "请补充医院诊断证明。"},
    ADJUST: {"amount": "800.00", "reason": "扣除已发放的教材费用。"},
}


def zh(msgid: str) -> str:
    """What a page in the default language shows for ``msgid`` (the English msgid until it is translated)."""
    with translation.override("zh-hans"):
        return gettext(msgid)


def page_url(refund) -> str:
    return reverse("admin:refunds_refundrequest_change", args=[refund.pk])


def history_url(refund) -> str:
    return reverse("admin:refunds_refundrequest_history", args=[refund.pk])


def decide_url(refund, action: str) -> str:
    return reverse("admin:refunds_refundrequest_decide", args=[refund.pk, action])


def queue_row_url(refund) -> str:
    return reverse("admin:refunds_approvalqueueitem_change", args=[refund.pk])


def bulk_data(*refunds, confirm: bool = True, comment: str = "") -> dict:
    """The POST of the bulk approval: the action on the selected rows, confirmed or not."""
    data = {"action": "approve_small_requests", "_selected_action": [str(r.pk) for r in refunds]}
    if confirm:
        data |= {"post": "yes", "comment": comment}
    else:
        data["index"] = "0"
    return data


def submitted(*, student, homeroom, campus, price: str = "1000.00", count: int = 1, **kwargs) -> list:
    """``count`` requests of ``student``, one order each, submitted one after the other."""
    return [
        submit(order_at(student=student, homeroom=homeroom, campus=campus, price=price), **kwargs) for _ in range(count)
    ]


def queue_rows(response) -> list:
    """The requests listed on a queue (or request list) page, in order."""
    return list(response.context["cl"].result_list)


# --- a refused action changes nothing ----------------------------------------------------

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
