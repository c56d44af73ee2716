"""Refund services under real concurrency: threads on PostgreSQL, each with its own connection.

Every test starts its threads together on a ``threading.Barrier`` and collects what each
thread got: a result, a ``RefundActionError`` (a clean refusal, by its code) or anything else,
which fails the test with the thread's traceback. The database must then hold exactly what
one serial order of the same calls would have produced.

The tests are transactional (the threads must see committed rows), so the database is flushed
after each one, the seeded default policies included: ``recorded_policy`` makes its own.
"""

from __future__ import annotations

import datetime
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

import refunds.services.requests as request_services
from orders.models import CourseType
from refunds.models import (
    ApprovalStep,
    QuoteSnapshot,
    RefundEvent,
    RefundEvidence,
    RefundRequest,
    RefundStatus,
    RefundTransition,
    StepDecision,
)
from refunds.services import (
    RefundActionError,
    refund_approve,
    refund_cancel,
    refund_steps_escalate,
    refund_submit,
)
from schoolops.models import StaffRole
from tests import factories

from .helpers import make_policy, order_at, pdf, submit

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREAD_TIMEOUT = 30  # seconds; a thread still alive after this is a hang, and fails the test


@dataclass
class Outcome:
    """What one thread got: ``value`` on success, ``code`` on a refusal, ``error`` on anything else."""

    index: int
    value: Any = None
    code: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.code is None and self.error is None


def race(*actions: Callable[[], Any]) -> list[Outcome]:
    """Run every action in its own thread, all released at once; fail on any unexpected exception."""
    barrier = threading.Barrier(len(actions), timeout=THREAD_TIMEOUT)
    outcomes = [Outcome(index=i) for i in range(len(actions))]

    def run(i: int, action: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            outcomes[i].value = action()
        except RefundActionError as exc:
            outcomes[i].code = exc.code
        except BaseException:  # noqa: BLE001 - reported below, with the traceback
            outcomes[i].error = traceback.format_exc()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, action), daemon=True) for i, action in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=THREAD_TIMEOUT)
    hung = [i for i, thread in enumerate(threads) if thread.is_alive()]
    assert not hung, f"threads {hung} still running after {THREAD_TIMEOUT} s"
    errors = [o for o in outcomes if o.error is not None]
    assert not errors, "unexpected exceptions in threads:\n" + "\n".join(f"#{o.index}: {o.error}" for o in errors)
    return outcomes


def refusals(outcomes: list[Outcome]) -> Counter:
    return Counter(o.code for o in outcomes if o.code is not None)


def winners(outcomes: list[Outcome]) -> list[Outcome]:
    return [o for o in outcomes if o.ok]


@pytest.fixture
def recorded_policy(db):
    """The seeded policy of recorded courses (0002), which the flush of an earlier test removed."""
    return make_policy(
        course_type=CourseType.RECORDED,
        cooling_off_days=7,
        cooling_off_anchor="course_start",
        cooling_off_progress_ceiling="20.00",
        tier_anchor="course_start",
        tiers=((1, 7, "100.00"), (8, None, "0.00")),
        consumption_basis="watched",
        handling_fee_percent="10.00",
    )


@pytest.fixture
def buy(recorded_policy, student, homeroom, campus):
    def _buy(price: str, *, student=student):
        return order_at(student=student, homeroom=homeroom, campus=campus, price=price)

    return _buy


def transitions(request: RefundRequest) -> list[tuple[str, str]]:
    """The approval log in the order the rows were written: under the request's lock, that is the
    order of the changes. (After the commit the payout takes over; its own rows are left out.)"""
    return list(
        RefundTransition.objects.filter(request=request)
        .exclude(name__in=PAYOUT_TRANSITIONS)
        .order_by("pk")
        .values_list("name", "to_status")
    )


PAYOUT_TRANSITIONS = ("start_payout", "confirm_payout", "fail_payout")
HANDED_TO_PAYOUT = (RefundStatus.APPROVED, RefundStatus.PAYING)


def steps(request: RefundRequest) -> list[tuple[str, str]]:
    return list(ApprovalStep.objects.filter(request=request).order_by("pk").values_list("tier", "decision"))


# --- 1. Many approvals of one step ------------------------------------------------------------


def test_twenty_clicks_of_the_same_approver_approve_the_step_once(buy, homeroom, supervisor):
    request = submit(buy("1000.00"))
    assert request.route == ["homeroom", "supervisor", "finance"]

    outcomes = race(*[lambda: refund_approve(request_id=request.pk, actor=homeroom.user)] * 20)

    assert len(winners(outcomes)) == 1
    # The losers find the supervisor's step in front of them, which is not the teacher's to decide.
    assert refusals(outcomes) == {"forbidden": 19}
    request.refresh_from_db()
    assert request.status == RefundStatus.PENDING_SUPERVISOR
    assert request.route_position == 1
    assert transitions(request) == [("submit", "pending_homeroom"), ("approve", "pending_supervisor")]
    assert steps(request) == [("homeroom", "approved"), ("supervisor", "pending")]
    assert request.steps.get(tier="homeroom").decided_by == homeroom
    assert request.steps.get(tier="supervisor").assignee == supervisor
    assert Counter(RefundEvent.objects.filter(request=request).values_list("kind", flat=True)) == {
        "submitted": 1,
        "assigned": 2,
        "advanced": 1,  # the student is told once that the first tier passed it
    }


def test_twenty_finance_clerks_approving_the_pool_step_at_once_approve_it_once(buy, homeroom, supervisor, campus):
    request = submit(buy("1000.00"))
    refund_approve(request_id=request.pk, actor=homeroom.user)
    refund_approve(request_id=request.pk, actor=supervisor.user)
    clerks = [factories.make_staff(role=StaffRole.FINANCE, campus=campus) for _ in range(20)]
    request.refresh_from_db()
    assert request.status == RefundStatus.PENDING_FINANCE
    assert request.steps.get(decision=StepDecision.PENDING).assignee is None  # a pool: any clerk may decide

    outcomes = race(*[lambda clerk=clerk: refund_approve(request_id=request.pk, actor=clerk.user) for clerk in clerks])

    (winner,) = winners(outcomes)
    # Finance is the last tier: after the winner the request no longer waits for anyone.
    assert refusals(outcomes) == {"state": 19}
    request.refresh_from_db()
    assert request.status in HANDED_TO_PAYOUT
    assert request.payouts.count() == 1
    assert request.decided_at is not None
    assert [name for name, _to in transitions(request)] == ["submit", "approve", "approve", "approve"]
    assert RefundTransition.objects.filter(request=request, to_status=RefundStatus.APPROVED).count() == 1
    assert steps(request) == [("homeroom", "approved"), ("supervisor", "approved"), ("finance", "approved")]
    assert request.steps.get(tier="finance").decided_by == clerks[winner.index]
    assert RefundEvent.objects.filter(request=request, kind="approved").count() == 1


# --- 2. Many submissions for one order --------------------------------------------------------


def test_twenty_submissions_for_one_order_open_one_request_and_leave_no_files_behind(buy, student, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path  # set before the threads start; they only read it
    order = buy("1000.00")

    outcomes = race(
        *[
            lambda n=n: refund_submit(
                student=student,
                order_no=order.order_no,
                reason="time_conflict",
                details=f"上班时间调整，无法继续上课（第{n}次）。",
                evidence=[pdf(f"schedule-{n}.pdf")],
            )
            for n in range(20)
        ]
    )

    (winner,) = winners(outcomes)
    assert refusals(outcomes) == {"open_request": 19}
    request = RefundRequest.objects.get(order=order)
    assert request.pk == winner.value.pk
    assert request.status == RefundStatus.PENDING_HOMEROOM
    assert QuoteSnapshot.objects.filter(order=order).count() == 1  # the losers' snapshots were rolled back
    assert transitions(request) == [("submit", "pending_homeroom")]
    assert steps(request) == [("homeroom", "pending")]
    evidence = RefundEvidence.objects.get(request=request)
    on_disk = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert on_disk == [evidence.file.name]


# --- 3. The teacher approves while the student cancels ----------------------------------------


def test_approve_of_the_last_tier_against_cancel_exactly_one_wins(recorded_policy, campus, homeroom):
    """A small request: the teacher's approval is the last person's, then the automatic check approves."""
    course = factories.make_course(campus=campus, course_type=CourseType.RECORDED, price="300.00")
    for _round in range(10):
        # A student of her own each round, so earlier approvals never count against the automatic check.
        student = factories.make_student(campus=campus)
        order = factories.make_order(student=student, course=course, homeroom_teacher=homeroom)
        request = submit(order)
        assert request.route == ["homeroom", "auto"]

        approve, cancel = race(
            lambda request=request: refund_approve(request_id=request.pk, actor=homeroom.user),
            lambda request=request, student=student: refund_cancel(request_id=request.pk, student=student),
        )

        request.refresh_from_db()
        assert [approve.ok, cancel.ok].count(True) == 1, (approve, cancel)
        assert not request.steps.filter(decision=StepDecision.PENDING).exists()
        if approve.ok:
            assert cancel.code == "state"
            assert request.status in HANDED_TO_PAYOUT
            assert request.payouts.count() == 1
            assert steps(request) == [("homeroom", "approved"), ("auto", "auto_passed")]
            assert transitions(request) == [("submit", "pending_homeroom"), ("approve", "approved")]
        else:
            assert approve.code == "state"
            assert request.status == RefundStatus.CANCELLED
            assert steps(request) == [("homeroom", "cancelled")]
            assert transitions(request) == [("submit", "pending_homeroom"), ("cancel", "cancelled")]


def test_approve_of_a_middle_tier_against_cancel_serialises(buy, student, homeroom, supervisor):
    """The student may cancel at any tier, so both may succeed; but only ever in one order or the other."""
    for _round in range(10):
        request = submit(buy("1000.00"))

        approve, cancel = race(
            lambda request=request: refund_approve(request_id=request.pk, actor=homeroom.user),
            lambda request=request, student=student: refund_cancel(request_id=request.pk, student=student),
        )

        request.refresh_from_db()
        assert cancel.ok, cancel  # nothing the teacher does can stop a withdrawal before the last approval
        assert request.status == RefundStatus.CANCELLED
        assert not request.steps.filter(decision=StepDecision.PENDING).exists()
        if approve.ok:
            # Approved first: the supervisor's new step was then closed by the cancellation.
            assert steps(request) == [("homeroom", "approved"), ("supervisor", "cancelled")]
            assert transitions(request) == [
                ("submit", "pending_homeroom"),
                ("approve", "pending_supervisor"),
                ("cancel", "cancelled"),
            ]
        else:
            assert approve.code == "state"
            assert steps(request) == [("homeroom", "cancelled")]
            assert transitions(request) == [("submit", "pending_homeroom"), ("cancel", "cancelled")]


def test_a_cancel_that_waited_for_an_approval_is_stamped_after_it(buy, student, homeroom, monkeypatch):
    """The race above with the bad interleaving forced: the cancel starts first, the approval locks first."""
    request = submit(buy("1000.00"))
    cancel_started, approval_locked = threading.Event(), threading.Event()
    lock_for_student, lock = request_services._lock_for_student, request_services._lock

    def lock_for_student_after_the_approval(**kwargs):
        cancel_started.set()  # refund_cancel has taken its timestamp
        assert approval_locked.wait(THREAD_TIMEOUT)
        return lock_for_student(**kwargs)

    def lock_and_tell(request_id, **kwargs):
        found = lock(request_id, **kwargs)
        approval_locked.set()
        return found

    def approve_after_the_cancel_started():
        assert cancel_started.wait(THREAD_TIMEOUT)
        time.sleep(0.002)  # a clearly later timestamp
        return refund_approve(request_id=request.pk, actor=homeroom.user)

    monkeypatch.setattr(request_services, "_lock_for_student", lock_for_student_after_the_approval)
    monkeypatch.setattr(request_services, "_lock", lock_and_tell)

    approve, cancel = race(
        approve_after_the_cancel_started, lambda: refund_cancel(request_id=request.pk, student=student)
    )

    assert approve.ok and cancel.ok
    assert transitions(request) == [
        ("submit", "pending_homeroom"),
        ("approve", "pending_supervisor"),
        ("cancel", "cancelled"),
    ]
    # The model's own ordering (created_at, pk), as the history pages show it, must agree.
    assert list(RefundTransition.objects.filter(request=request).values_list("name", flat=True)) == [
        "submit",
        "approve",
        "cancel",
    ]
    supervisor_step = request.steps.get(tier="supervisor")
    assert supervisor_step.decided_at >= supervisor_step.created_at
    request.refresh_from_db()
    assert request.decided_at >= RefundTransition.objects.get(request=request, name="approve").created_at


# --- 4. Escalation runs at once ---------------------------------------------------------------


def test_concurrent_escalation_runs_escalate_each_overdue_step_once(
    buy, student, homeroom, supervisor, campus_head, campus
):
    factories.make_staff(role=StaffRole.FINANCE, campus=campus)
    at_homeroom = [submit(buy("1000.00")) for _ in range(4)]
    at_finance = submit(buy("1000.00"))
    refund_approve(request_id=at_finance.pk, actor=homeroom.user)
    refund_approve(request_id=at_finance.pk, actor=supervisor.user)
    not_due = submit(buy("1000.00"))
    later = timezone.now() + datetime.timedelta(days=3)
    ApprovalStep.objects.filter(request=not_due).update(due_at=later + datetime.timedelta(days=1))
    overdue = [*at_homeroom, at_finance]

    outcomes = race(*[lambda: refund_steps_escalate(now=later)] * 5)

    assert sum(o.value for o in outcomes) == len(overdue)
    for request in overdue:
        step = request.steps.get(decision=StepDecision.PENDING)
        assert step.escalated_at == later
        assert step.escalated_to == (campus_head if step.tier == "finance" else supervisor)
        assert RefundTransition.objects.filter(request=request, name="escalate").count() == 1
        assert RefundEvent.objects.filter(request=request, kind="escalated").count() == 1
    assert at_finance.steps.get(decision=StepDecision.PENDING).tier == "finance"
    assert not ApprovalStep.objects.filter(request=not_due, escalated_at__isnull=False).exists()
    assert not RefundTransition.objects.filter(request=not_due, name="escalate").exists()


def test_escalation_against_an_approval_of_the_same_step_never_deadlocks(buy, homeroom, supervisor):
    """The escalation must take the locks in the services' order (request, then step) or the two deadlock."""
    for _round in range(10):
        request = submit(buy("1000.00"))
        now = timezone.now()
        # Only this round's step is overdue; the supervisor's step an approval opens is due tomorrow.
        ApprovalStep.objects.filter(request=request).update(due_at=now - datetime.timedelta(hours=1))

        approve, escalate = race(
            lambda request=request: refund_approve(request_id=request.pk, actor=homeroom.user),
            lambda now=now: refund_steps_escalate(now=now),
        )

        assert approve.ok, approve  # an escalated step stays the assignee's to decide
        homeroom_step = request.steps.get(tier="homeroom")
        assert homeroom_step.decision == StepDecision.APPROVED
        assert request.steps.get(decision=StepDecision.PENDING).tier == "supervisor"
        if escalate.value:
            assert escalate.value == 1
            assert homeroom_step.escalated_to == supervisor
            assert [name for name, _to in transitions(request)] == ["submit", "escalate", "approve"]
        else:
            assert homeroom_step.escalated_at is None
            assert [name for name, _to in transitions(request)] == ["submit", "approve"]
