"""The facts kept by the refund event listener always equal a rebuild from the raw tables, after
any sequence of submissions, approvals, rejections, returns, resubmissions, cancellations,
appeals and refunds driven through the real services, at moments spread over several days."""

from __future__ import annotations

import datetime

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.models import RefundFact
from payments.services import PayoutError, payout_record_transfer
from refunds.models import PENDING_STATES, RefundRequest, RefundStatus
from refunds.services import (
    RefundActionError,
    refund_appeal,
    refund_approve,
    refund_cancel,
    refund_reject,
    refund_resubmit,
    refund_return_for_info,
    refund_submit,
)
from schoolops.models import Staff
from tests import factories
from tests.refunds.helpers import PAYEE

from .helpers import facts_rows, rebuild

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shipped_data")]

OPS = (
    "submit",
    "submit",
    "approve",
    "approve",
    "approve",
    "reject",
    "return",
    "resubmit",
    "cancel",
    "appeal",
    "refund",
)
STEPS = st.lists(
    st.tuples(st.sampled_from(OPS), st.integers(min_value=0, max_value=50), st.integers(min_value=1, max_value=30)),
    min_size=5,
    max_size=20,
)


class School:
    """One campus with a full chain of approvers, and students with bank-card orders (refunded by
    a transfer finance records, so no gateway is involved)."""

    def __init__(self) -> None:
        campus = factories.make_campus()
        head = factories.make_staff(role="campus_head", campus=campus)
        supervisor = factories.make_staff(role="supervisor", campus=campus, manager=head)
        teachers = [factories.make_staff(role="homeroom", campus=campus, manager=supervisor) for _ in range(2)]
        factories.make_staff(role="quality", campus=campus)
        self.finance = factories.make_staff(role="finance", campus=campus)
        self.staff = list(Staff.objects.filter(campus=campus).select_related("user").order_by("pk"))
        self.orders = []
        for n, price in enumerate(["300.00", "1000.00", "3000.00", "300.00", "1000.00", "3000.00"]):
            student = factories.make_student(campus=campus)
            course = factories.make_course(campus=campus, price=price)
            self.orders.append(
                factories.make_order(
                    student=student,
                    course=course,
                    homeroom_teacher=teachers[n % 2],
                    channel="card",
                    paid_at=timezone.now() - datetime.timedelta(days=20),
                )
            )
        self.clock = timezone.now() - datetime.timedelta(days=10)

    def requests(self, *statuses: str) -> list[RefundRequest]:
        return list(
            RefundRequest.objects.filter(status__in=statuses, campus=self.orders[0].course.campus).order_by("pk")
        )

    def act(self, op: str, pick: int, hours: int) -> None:
        self.clock += datetime.timedelta(hours=hours)
        at = self.clock
        try:
            with transaction.atomic():
                getattr(self, f"op_{op}")(pick, at)
        except (RefundActionError, PayoutError, IndexError):
            pass  # refused, or nothing to act on: nothing changed

    def op_submit(self, pick: int, at: datetime.datetime) -> None:
        order = self.orders[pick % len(self.orders)]
        reason, details = [("time_conflict", "上班时间调整，无法继续上课。"), ("other", "不想上了")][pick % 2]
        refund_submit(
            student=order.student, order_no=order.order_no, reason=reason, details=details, at=at, payee=PAYEE
        )

    def _decide(self, pick: int, at: datetime.datetime, action) -> None:
        request = self.requests(*PENDING_STATES)[pick % 7]
        for staff in self.staff:  # whoever may decide the current tier
            try:
                with transaction.atomic():
                    action(request.pk, staff.user, at)
                return
            except RefundActionError:
                continue

    def op_approve(self, pick: int, at: datetime.datetime) -> None:
        self._decide(pick, at, lambda pk, user, at: refund_approve(request_id=pk, actor=user, at=at))

    def op_reject(self, pick: int, at: datetime.datetime) -> None:
        self._decide(
            pick, at, lambda pk, user, at: refund_reject(request_id=pk, actor=user, reason="不符合条件。", at=at)
        )

    def op_return(self, pick: int, at: datetime.datetime) -> None:
        self._decide(
            pick,
            at,
            lambda pk, user, at: refund_return_for_info(request_id=pk, actor=user, missing="请补充说明。", at=at),
        )

    def op_resubmit(self, pick: int, at: datetime.datetime) -> None:
        request = self.requests(RefundStatus.NEEDS_INFO)[pick % 7]
        refund_resubmit(request_id=request.pk, student=request.student, details="工作调动到外地，无法继续上课。", at=at)

    def op_cancel(self, pick: int, at: datetime.datetime) -> None:
        request = self.requests(*PENDING_STATES, RefundStatus.NEEDS_INFO)[pick % 7]
        refund_cancel(request_id=request.pk, student=request.student, at=at)

    def op_appeal(self, pick: int, at: datetime.datetime) -> None:
        request = self.requests(RefundStatus.REJECTED)[pick % 7]
        refund_appeal(request_id=request.pk, student=request.student, reason="请复核。", at=at)

    def op_refund(self, pick: int, at: datetime.datetime) -> None:
        request = self.requests(RefundStatus.APPROVED, RefundStatus.PAYOUT_FAILED)[pick % 7]
        payout_record_transfer(
            request_id=request.pk,
            actor=self.finance.user,
            bank_reference=f"BK{request.pk}-{pick}",
            transferred_on=timezone.localdate(at),
            at=at,
        )


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_kept_facts_equal_a_rebuild(django_capture_on_commit_callbacks, steps):
    school = School()
    # What the beat job and an earlier rebuild hold: the orders paid before (revenue has no event).
    rebuild(until=timezone.localdate() + datetime.timedelta(days=30))
    for op, pick, hours in steps:
        with django_capture_on_commit_callbacks(execute=True):
            school.act(op, pick, hours)
    kept = facts_rows()
    rebuild(until=timezone.localdate() + datetime.timedelta(days=30))
    assert facts_rows() == kept


def test_the_listener_counts_a_whole_lifecycle(django_capture_on_commit_callbacks):
    """One request submitted, rejected, appealed, approved and refunded: two decisions, one refund."""
    school = School()
    for op in ("submit", "reject", "appeal", "approve", "approve", "approve", "refund"):
        with django_capture_on_commit_callbacks(execute=True):
            # 14: the 3000.00 order (14 % 6 = 2): homeroom, supervisor, campus head, finance; the
            # first request of each list (14 % 7 = 0); the reason time conflict (14 is even).
            school.act(op, 14, 5)
    request = RefundRequest.objects.get()
    totals = {
        name: sum(getattr(f, name) for f in RefundFact.objects.all())
        for name in ("applications", "decided", "approved", "rejected", "refunded_count")
    }
    assert request.status == RefundStatus.REFUNDED
    assert totals == {"applications": 1, "decided": 2, "approved": 1, "rejected": 1, "refunded_count": 1}
