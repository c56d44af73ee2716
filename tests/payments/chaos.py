"""The chaos run's machinery: a seeded sequence of operations over the refund and payout services
while a real Celery worker pays refunds back through the gateway simulator, with every fault the
simulator knows and kill -9 of the worker; then everything is let settle and the money checked.

Everything the run decides comes from one ``random.Random(seed)``: which operation, on which
request, by whom, for how much, which fault. What the worker has finished by then (and so which
requests are refunded, failed or still paying) depends on timing, so two runs of one seed take
the same decisions as far as the worker's progress allows.
"""

from __future__ import annotations

import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError
from django.db.models import F
from django.utils import timezone

from gatewaysim.server import GatewaySimulator
from orders.models import CourseType, Order, PaymentChannel
from payments import services as payout_services
from payments.models import Payout, PayoutExchange, PayoutStatus
from payments.services import MANUAL_CHANNELS, PayoutError
from payments.testing import WorkerProcess
from refunds.models import (
    CLOSED_STATES,
    MONEY_STATES,
    PENDING_STATES,
    ApprovalStep,
    RefundReason,
    RefundRequest,
    RefundStatus,
    RefundTransition,
    StepDecision,
)
from refunds.rules import step_can_act
from refunds.services import (
    RefundActionError,
    refund_adjust_amount,
    refund_appeal,
    refund_approve,
    refund_cancel,
    refund_reject,
    refund_resubmit,
    refund_return_for_info,
    refund_submit,
)
from schoolops.models import Campus, Staff, StaffRole
from students.models import Enrollment, Student
from tests import factories

CENT = Decimal("0.01")
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
IN_FLIGHT = (PayoutStatus.QUEUED, PayoutStatus.SENT, PayoutStatus.UNKNOWN)
PENDING = tuple(PENDING_STATES)

# (behaviour, options): what the simulator may do to a refund call, and to a query.
REFUND_FAULTS = [
    ("processing_then_success", {"delay": 0.3}),
    ("system_error", {}),
    ("insufficient_balance", {}),
    ("trade_not_exist", {}),
    ("slow", {"delay": 0.5}),
    ("http_500", {}),
    ("crash_after_execute", {}),
    ("http_500_after_execute", {}),
    ("hang_after_execute", {"delay": 1.0}),
    ("bad_signature", {}),
    ("duplicate_callback", {}),
    ("callback_before_response", {}),
]
QUERY_FAULTS = [
    ("system_error", {}),
    ("http_500", {}),
    ("bad_signature", {}),
    ("slow", {"delay": 0.5}),
    ("query_error", {}),
    ("query_error", {"code": {"wechat": "INVALID_REQUEST", "alipay": "ACQ.INVALID_PARAMETER"}}),
    ("query_not_found", {}),
    ("query_timeout", {"delay": 1.0}),
]
# The answer was lost after the money moved: the next thing that can happen is a query.
LOST_ANSWERS = [("crash_after_execute", {}), ("http_500_after_execute", {}), ("bad_signature", {})]
# The gateway refusing a refund because of us: more than is left on the trade, or a number reused.
OVERREACH = {
    "wechat": ("累计退款金额大于支付金额", "订单金额或退款金额与之前请求不一致"),
    "alipay": ("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "ACQ.REASON_TRADE_REFUND_FEE_ERR"),
}

# Random numbers drawn for every operation, used or not (no operation needs more).
UNITS_PER_DRAW = 8
# How often each operation is drawn.
WEIGHTS = {
    "submit": 14,
    "approve": 30,
    "approve_wrong_staff": 2,
    "reject": 5,
    "return_for_info": 4,
    "resubmit": 4,
    "adjust_amount": 10,
    "cancel": 3,
    "appeal": 6,
    "payout_retry": 4,
    "payout_record_transfer": 2,
    "payouts_check": 4,
    "fault": 10,
    "lost_answer_then_query_fault": 4,
    "callbacks_toggle": 1,
    "consume_lessons": 4,
    "tick": 6,
    "kill_worker": 1,
}
# The states a request may end the run in: final, or someone can act on it.
FINAL = (RefundStatus.REFUNDED, RefundStatus.REJECTED, RefundStatus.CANCELLED, RefundStatus.CLOSED)
ACTIONABLE = (*PENDING, RefundStatus.NEEDS_INFO, RefundStatus.PAYOUT_FAILED)  # approver, student, finance


@dataclass
class Entry:
    """One operation of the run, as the report tells it."""

    index: int
    kind: str
    outcome: str  # done, refused, no target, armed, ...
    detail: str = ""
    order_no: str = ""
    request_no: str = ""

    def line(self) -> str:
        where = " ".join(x for x in (self.order_no, self.request_no) if x)
        return f"#{self.index:03d} {self.kind:<28} {self.outcome:<9} {where:<34} {self.detail}"


class NoTarget(Exception):
    """Nothing to do this operation on right now: another is drawn."""


@dataclass
class Cast:
    campus: Campus
    students: list[Student]
    finance: list[Staff]
    staff: list[Staff]  # everyone at the campus, with their users: who may decide what is worked out per step


def build_cast() -> Cast:
    """One campus: two campus heads (one above the other, so an appeal of a head's rejection has
    someone to go to), two supervisors, four homeroom teachers, two quality reviewers, two in finance."""
    campus = factories.make_campus(code="chaos", name="混沌校区")
    head_top = factories.make_staff(role=StaffRole.CAMPUS_HEAD, campus=campus, name="区域校长")
    head = factories.make_staff(role=StaffRole.CAMPUS_HEAD, campus=campus, manager=head_top, name="校长")
    supervisors = [
        factories.make_staff(role=StaffRole.SUPERVISOR, campus=campus, manager=head, name=f"主管{i}") for i in (1, 2)
    ]
    for i in range(4):
        factories.make_staff(role=StaffRole.HOMEROOM, campus=campus, manager=supervisors[i % 2], name=f"班主任{i}")
    for role, name in [(StaffRole.QUALITY, "质检"), (StaffRole.FINANCE, "会计")]:
        for i in (1, 2):
            factories.make_staff(role=role, campus=campus, name=f"{name}{i}")
    factories.make_staff(role=StaffRole.OPERATIONS, campus=campus, name="运营")  # decides nothing
    students = [factories.make_student(campus=campus) for _ in range(12)]
    staff = list(Staff.objects.filter(campus=campus).select_related("user", "delegate").order_by("pk"))
    finance = [s for s in staff if s.role == StaffRole.FINANCE]
    return Cast(campus=campus, students=students, finance=finance, staff=staff)


def build_orders(rng: random.Random, cast: Cast, count: int) -> list[Order]:
    """Orders on both online channels; a third premium (by contract: the approver sets every amount),
    the rest recorded courses (90 % back within the first week, less what was watched past 20 %)."""
    prices = ["300.00", "460.00", "800.00", "1200.00", "1900.00", "2600.00", "3400.00"]
    homeroom = [s for s in cast.staff if s.role == StaffRole.HOMEROOM]
    orders = []
    for index in range(count):
        course_type = CourseType.PREMIUM if index % 3 == 0 else CourseType.RECORDED
        course = factories.make_course(campus=cast.campus, course_type=course_type, price=rng.choice(prices))
        orders.append(
            factories.make_order(
                student=cast.students[index % len(cast.students)],
                course=course,
                homeroom_teacher=homeroom[index % len(homeroom)],
                channel=PaymentChannel.WECHAT if index % 2 else PaymentChannel.ALIPAY,
            )
        )
    return orders


@dataclass
class Chaos:
    rng: random.Random
    seed: int
    sim: GatewaySimulator
    cast: Cast
    orders: list[Order]
    start_worker: Callable[[], WorkerProcess]
    max_kills: int
    worker: WorkerProcess | None = None
    log: list[Entry] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    kills: int = 0
    faults: Counter = field(default_factory=Counter)
    worker_deaths: list[str] = field(default_factory=list)
    crashes: list[tuple[int, str, str]] = field(default_factory=list)  # (operation, order_no, error)
    workers: list[WorkerProcess] = field(default_factory=list)
    _units: list[float] = field(default_factory=list)

    def new_worker(self) -> WorkerProcess:
        self.worker = self.start_worker()
        self.workers.append(self.worker)
        return self.worker

    # --- the run

    def run(self, operations: int) -> None:
        kinds = list(WEIGHTS)
        weights = [WEIGHTS[k] for k in kinds]
        index = 0
        draws = 0
        while index < operations and draws < operations * 20:
            draws += 1
            kind = self.rng.choices(kinds, weights)[0]
            self._units = [self.rng.random() for _ in range(UNITS_PER_DRAW)]
            try:
                entry = getattr(self, f"op_{kind}")()
            except NoTarget:
                self.counts[(kind, "no target")] += 1
                continue
            entry.index, entry.kind = index, kind
            self.log.append(entry)
            self.counts[(kind, entry.outcome)] += 1
            index += 1

    def _attempt(self, action: Callable[[], object], **where: str) -> Entry:
        """Run a service call; a refusal is an outcome like any other. Anything else the service
        raises is a finding: kept (reported with the invariants), and the run goes on."""
        try:
            action()
        except (RefundActionError, PayoutError) as exc:
            return Entry(0, "", "refused", f"{exc.code}: {exc.message}"[:120], **where)
        except DatabaseError as exc:  # a constraint caught what the service let through
            self.crashes.append((len(self.log), where.get("order_no", ""), repr(exc)[:300]))
            return Entry(0, "", "crashed", repr(exc)[:160], **where)
        return Entry(0, "", "done", **where)

    # --- picking

    # Each draw takes the same count of numbers from the seeded RNG whatever the state, and the
    # operation maps them onto what is there: where the worker's timing makes a candidate list
    # differ between two runs of one seed, that draw differs, and the draws after it do not.

    def _u(self) -> float:
        return self._units.pop()

    def _chance(self, p: float) -> bool:
        return self._u() < p

    def _int(self, low: int, high: int) -> int:
        return low + int(self._u() * (high - low + 1))

    def _pick(self, items: list):
        u = self._u()
        if not items:
            raise NoTarget
        return items[int(u * len(items))]

    def _requests(self, *statuses: str, **filters) -> list[RefundRequest]:
        return list(
            RefundRequest.objects.filter(status__in=statuses, **filters)
            .select_related("order", "student__user", "quote")
            .order_by("pk")
        )

    def _deciders(self, request: RefundRequest) -> list[Staff]:
        """Who may decide the request's pending step now (the service's own rule, plus separation)."""
        step = (
            ApprovalStep.objects.filter(request=request, decision=StepDecision.PENDING)
            .select_related("assignee__user", "assignee__delegate", "escalated_to")
            .first()
        )
        if step is None:
            return []
        step.request = request
        barred_decisions = [StepDecision.APPROVED]
        if request.appealed_at is not None:
            barred_decisions.append(StepDecision.REJECTED)
        barred = set(request.steps.filter(decision__in=barred_decisions).values_list("decided_by", flat=True))
        today = timezone.localdate()
        return [
            staff
            for staff in self.cast.staff
            if staff.pk not in barred and step_can_act(step=step, staff=staff, on=today)[0]
        ]

    def _decision(self) -> tuple[RefundRequest, Staff]:
        pending = self._requests(*PENDING)
        # Appeals are decided promptly: a third of the time, one of them if there is any.
        appealed = [r for r in pending if r.appealed_at is not None]
        request = self._pick(appealed if self._chance(0.35) and appealed else pending)
        deciders = self._deciders(request)
        if not deciders:
            raise NoTarget
        return request, self._pick(deciders)

    @staticmethod
    def _where(request: RefundRequest) -> dict[str, str]:
        return {"order_no": request.order.order_no, "request_no": request.request_no}

    # --- the student

    def op_submit(self) -> Entry:
        busy = set(RefundRequest.objects.exclude(status__in=CLOSED_STATES).values_list("order_id", flat=True))
        free = [o for o in self.orders if o.pk not in busy]
        # Half the time, an order with a rejection not yet appealed: its appeal may come after this one.
        waiting = set(
            RefundRequest.objects.filter(status=RefundStatus.REJECTED, appealed_at=None).values_list(
                "order_id", flat=True
            )
        )
        preferred = [o for o in free if o.pk in waiting]
        order = self._pick(preferred if self._chance(0.5) and preferred else free)
        reason = self._pick(
            [RefundReason.TIME_CONFLICT] * 12
            + [RefundReason.ILLNESS] * 3
            + [RefundReason.QUALITY] * 2
            + [RefundReason.OTHER] * 3
        )
        details = "上班时间调整，无法继续上课。"
        evidence = []
        if reason in (RefundReason.ILLNESS, RefundReason.QUALITY):
            evidence = [SimpleUploadedFile("proof.pdf", PDF, content_type="application/pdf")]
            details = (
                "住院治疗，医生建议休养三个月。"
                if reason == RefundReason.ILLNESS
                else "直播多次卡顿，老师迟到且内容与大纲不符。"
            )
        elif reason == RefundReason.OTHER:
            details = "不想上了"  # too short: the initial review sends it back for more
        student = order.student
        made: list[RefundRequest] = []
        entry = self._attempt(
            lambda: made.append(
                refund_submit(
                    student=student, order_no=order.order_no, reason=reason, details=details, evidence=evidence
                )
            ),
            order_no=order.order_no,
        )
        if made:
            entry.request_no = made[0].request_no
            entry.detail = f"{reason}, quoted {made[0].approved_amount} → {made[0].status}"
        else:
            entry.detail = f"{reason}: {entry.detail}"
        return entry

    def op_resubmit(self) -> Entry:
        request = self._pick(self._requests(RefundStatus.NEEDS_INFO))
        return self._attempt(
            lambda: refund_resubmit(
                request_id=request.pk, student=request.student, details="补充说明：工作调动到外地，无法继续上课。"
            ),
            **self._where(request),
        )

    def op_cancel(self) -> Entry:
        # Mostly requests that may be withdrawn; now and then one that may not (approved, paying).
        if self._chance(0.8):
            request = self._pick(self._requests(*PENDING, RefundStatus.NEEDS_INFO))
        else:
            request = self._pick(self._requests(RefundStatus.APPROVED, RefundStatus.PAYING, RefundStatus.REFUNDED))
        return self._attempt(
            lambda: refund_cancel(request_id=request.pk, student=request.student), **self._where(request)
        )

    def op_appeal(self) -> Entry:
        rejected = self._requests(RefundStatus.REJECTED, appealed_at=None)
        busy = set(RefundRequest.objects.exclude(status__in=CLOSED_STATES).values_list("order_id", flat=True))
        # Mostly rejections whose order is free again (another request in progress refuses the
        # appeal), above all on orders that something was refunded on since: the appeal's old
        # quote knows nothing of that money.
        refunded_orders = set(
            RefundRequest.objects.filter(status=RefundStatus.REFUNDED).values_list("order_id", flat=True)
        )
        free = [r for r in rejected if r.order_id not in busy]
        later = [r for r in free if r.order_id in refunded_orders]
        roll = self._u()
        request = self._pick(later if later and roll < 0.7 else free if free and roll < 0.9 else rejected)
        entry = self._attempt(
            lambda: refund_appeal(
                request_id=request.pk, student=request.student, reason="我认为符合退款条件，请复核。"
            ),
            **self._where(request),
        )
        refunded = RefundRequest.objects.filter(order=request.order, status=RefundStatus.REFUNDED).exclude(
            pk=request.pk
        )
        since = f", {refunded.count()} other refunded on the order" if refunded.exists() else ""
        entry.detail = f"approved amount {request.approved_amount}{since} {entry.detail}".strip()
        return entry

    def op_consume_lessons(self) -> Entry:
        """The student keeps learning: the recorded policy deducts lessons watched past 20 %."""
        order = self._pick(self.orders)
        lessons = self._int(1, 6)
        Enrollment.objects.filter(order=order).update(
            lessons_watched=F("lessons_watched") + lessons, lessons_consumed=F("lessons_consumed") + lessons
        )
        Enrollment.objects.filter(order=order, lessons_watched__gt=order.course.lessons).update(
            lessons_watched=order.course.lessons, lessons_consumed=order.course.lessons
        )
        return Entry(0, "", "done", f"+{lessons} lessons", order_no=order.order_no)

    # --- staff

    def op_approve(self) -> Entry:
        request, staff = self._decision()
        entry = self._attempt(lambda: refund_approve(request_id=request.pk, actor=staff.user), **self._where(request))
        request.refresh_from_db()
        entry.detail = (f"{request.approved_amount} by {staff.role} → {request.status} " + entry.detail).strip()
        return entry

    def op_approve_wrong_staff(self) -> Entry:
        request = self._pick(self._requests(*PENDING))
        allowed = {s.pk for s in self._deciders(request)}
        staff = self._pick([s for s in self.cast.staff if s.pk not in allowed])
        entry = self._attempt(lambda: refund_approve(request_id=request.pk, actor=staff.user), **self._where(request))
        entry.detail = f"by {staff.role}: {entry.detail}"
        return entry

    def op_reject(self) -> Entry:
        request, staff = self._decision()
        entry = self._attempt(
            lambda: refund_reject(request_id=request.pk, actor=staff.user, reason="不符合退款政策。"),
            **self._where(request),
        )
        entry.detail = f"by {staff.role} {entry.detail}".strip()
        return entry

    def op_return_for_info(self) -> Entry:
        request, staff = self._decision()
        return self._attempt(
            lambda: refund_return_for_info(request_id=request.pk, actor=staff.user, missing="请补充调课证明。"),
            **self._where(request),
        )

    def op_adjust_amount(self) -> Entry:
        request, staff = self._decision()
        limit = request.quote.refundable
        roll, fraction = self._u(), self._u()
        if roll < 0.2:
            amount = Decimal("0.00")
        elif roll < 0.7 and limit > CENT:
            amount = max(CENT, (limit * Decimal(fraction)).quantize(CENT))
        elif roll < 0.9:
            amount = limit
        else:
            amount = limit + Decimal("1.00")  # above what may be refunded: refused
        entry = self._attempt(
            lambda: refund_adjust_amount(request_id=request.pk, actor=staff.user, amount=amount, reason="按合同核定。"),
            **self._where(request),
        )
        entry.detail = f"{request.approved_amount} → {amount} (limit {limit}) {entry.detail}".strip()
        return entry

    # --- finance

    def op_payout_retry(self) -> Entry:
        request = self._pick(self._requests(RefundStatus.PAYOUT_FAILED))
        clerk = self._pick(self.cast.finance)
        return self._attempt(
            lambda: payout_services.payout_retry(request_id=request.pk, actor=clerk.user), **self._where(request)
        )

    def op_payout_record_transfer(self) -> Entry:
        request = self._pick(self._requests(RefundStatus.PAYOUT_FAILED))
        clerk = self._pick(self.cast.finance)
        reference = f"BANK{int(self._u() * 10**8):08d}"
        entry = self._attempt(
            lambda: payout_services.payout_record_transfer(
                request_id=request.pk, actor=clerk.user, bank_reference=reference, transferred_on=timezone.localdate()
            ),
            **self._where(request),
        )
        entry.detail = f"{request.approved_amount} by transfer {entry.detail}".strip()
        return entry

    def op_payouts_check(self) -> Entry:
        handed = payout_services.payouts_check()
        return Entry(0, "", "done", f"{handed} handed on")

    # --- the gateway and the worker

    def _behave(self, channel: str, endpoint: str, behaviour: str, options: dict, times: int) -> str:
        options = dict(options)
        if isinstance(options.get("code"), dict):
            options["code"] = options["code"][channel]
        self.sim.behave(channel, behaviour, times=times, endpoint=endpoint, **options)
        self.faults[f"{endpoint}:{behaviour}"] += times
        extra = f" {options['code']}" if "code" in options else ""
        return f"{channel} {endpoint} {behaviour}{extra} ×{times}"

    def op_fault(self) -> Entry:
        channel = self._pick(["wechat", "alipay"])
        endpoint = "refund" if self._chance(0.55) else "query"
        behaviour, options = self._pick(REFUND_FAULTS if endpoint == "refund" else QUERY_FAULTS)
        return Entry(0, "", "armed", self._behave(channel, endpoint, behaviour, options, self._int(1, 2)))

    def op_lost_answer_then_query_fault(self) -> Entry:
        """The refund's answer is lost after the money moved, and the queries that follow misbehave."""
        channel = self._pick(["wechat", "alipay"])
        behaviour, options = self._pick(LOST_ANSWERS)
        told = [self._behave(channel, "refund", behaviour, options, 1)]
        query, query_options = self._pick(
            [q for q in QUERY_FAULTS if q[0] in ("query_error", "query_not_found", "query_timeout")]
        )
        told.append(self._behave(channel, "query", query, query_options, self._int(1, 3)))
        return Entry(0, "", "armed", "; ".join(told))

    def op_callbacks_toggle(self) -> Entry:
        self.sim.callbacks_enabled = not self.sim.callbacks_enabled
        return Entry(0, "", "done", "callbacks " + ("on" if self.sim.callbacks_enabled else "off"))

    def op_tick(self) -> Entry:
        pause = round(0.05 + 0.35 * self._u(), 2)
        time.sleep(pause)
        return Entry(0, "", "done", f"{pause}s")

    def op_kill_worker(self) -> Entry:
        """kill -9 the worker, often while it waits for an answer the gateway holds after paying."""
        if self.kills >= self.max_kills:
            raise NoTarget
        detail = "kill -9"
        rule = None
        if self._chance(0.6):
            channel = self._pick(["wechat", "alipay"])
            rule = self.sim.behave(channel, "hang_after_execute", times=1, delay=8.0)
            self.faults["refund:hang_after_execute"] += 1
            moved = self.sim.ledger.wait_for_movement(None, 2.0, after=len(self.sim.ledger.movements))
            detail += f" while {channel} holds the answer to {moved.payout_no}" if moved else " (nothing was paying)"
        self.worker.kill()
        if rule is not None:
            rule.times = 0  # disarmed if no refund came to hang
        self.sim.release()
        self.kills += 1
        self.new_worker()
        return Entry(0, "", "done", detail + "; new worker started")

    # --- the end

    def settle(self, *, timeout: float) -> tuple[bool, float]:
        """Faults off, held answers let go; then the beat job until no payout may still change
        (a payout flagged for finance's manual check counts as settled). Returns (settled, seconds)."""
        self.sim.behaviours.reset(seed=self.seed)
        self.sim.release()
        self.sim.callbacks_enabled = True
        if self.worker is None or self.worker.process is None or self.worker.process.poll() is not None:
            self.new_worker()
        started = time.monotonic()
        quiet = 0
        while time.monotonic() - started < timeout:
            if self.worker.process.poll() is not None:  # it died on its own: a finding, and a new one
                self.worker_deaths.append(self.worker.log())
                self.new_worker()
            payout_services.payouts_check()
            time.sleep(1.0)
            quiet = quiet + 1 if not unsettled_payouts().exists() else 0
            if quiet >= 2:
                return True, time.monotonic() - started
        return False, time.monotonic() - started


# --- Reading the books -----------------------------------------------------------------------


def unsettled_payouts():
    """Payouts that may still change by themselves. One flagged for finance's manual check at the
    gateway is settled as far as the run goes: someone can act on it."""
    return Payout.objects.filter(status__in=IN_FLIGHT, needs_check_since__isnull=True)


@dataclass
class Violation:
    invariant: str
    detail: str
    order_id: int | None = None


def check_invariants(chaos: Chaos) -> list[Violation]:
    """What must hold once everything settled; each broken rule names its order."""
    sim = chaos.sim
    violations: list[Violation] = []
    payouts = {p.payout_no: p for p in Payout.objects.select_related("order", "request")}
    executed = sim.refunds_executed()
    for number, times in sorted(executed.items()):
        if times != 1:
            order = payouts[number].order_id if number in payouts else None
            violations.append(Violation("no refund number moves money twice", f"{number} moved {times}×", order))
    moved_by_order: dict[int, Decimal] = defaultdict(lambda: Decimal("0.00"))
    for movement in sim.ledger.movements:
        payout = payouts.get(movement.payout_no)
        if payout is None:
            violations.append(
                Violation("the gateway moves only our payouts", f"{movement.payout_no} is no payout of ours")
            )
            continue
        moved_by_order[payout.order_id] += movement.amount
        if movement.amount != payout.amount:
            violations.append(
                Violation(
                    "the gateway moves a payout's own amount",
                    f"{payout.payout_no} moved {movement.amount}, ours is {payout.amount}",
                    payout.order_id,
                )
            )
    for payout in payouts.values():
        if payout.channel in MANUAL_CHANNELS:
            continue
        moved = executed.get(payout.payout_no, 0)
        if payout.status == PayoutStatus.FAILED and moved:
            violations.append(
                Violation(
                    "a payout marked failed moved no money",
                    f"{payout.payout_no} ({payout.amount}, {payout.channel}) is failed in our books "
                    f"({payout.error_code}: {payout.error_message[:80]}) but the gateway paid it",
                    payout.order_id,
                )
            )
        if payout.status == PayoutStatus.SUCCEEDED and not moved:
            violations.append(
                Violation(
                    "a payout marked succeeded moved its money",
                    f"{payout.payout_no} succeeded in our books, the gateway never paid it",
                    payout.order_id,
                )
            )
    for exchange in PayoutExchange.objects.filter(kind="refund", outcome="error").select_related("payout"):
        texts = OVERREACH.get(exchange.payout.channel, ())
        if any(t and (t == exchange.error_code or t in exchange.note) for t in texts):
            violations.append(
                Violation(
                    "we never ask a gateway for more than is left on the order",
                    f"{exchange.payout.payout_no} ({exchange.payout.amount}) refused: "
                    f"{exchange.error_code} {exchange.note[:60]}",
                    exchange.payout.order_id,
                )
            )
    promising = (*MONEY_STATES, RefundStatus.REFUNDED)
    for order in Order.objects.filter(pk__in=[o.pk for o in chaos.orders]).order_by("pk"):
        promised = list(RefundRequest.objects.filter(order=order, status__in=promising).order_by("pk"))
        if sum((r.approved_amount for r in promised), Decimal("0.00")) > order.amount_paid:
            violations.append(
                Violation(
                    "an order's approved requests never promise more than was paid",
                    f"order {order.order_no} (paid {order.amount_paid}): "
                    + ", ".join(f"{r.request_no} {r.status} {r.approved_amount}" for r in promised),
                    order.pk,
                )
            )
        succeeded = [p for p in payouts.values() if p.order_id == order.pk and p.status == PayoutStatus.SUCCEEDED]
        manual = sum((p.amount for p in succeeded if p.channel in MANUAL_CHANNELS), Decimal("0.00"))
        out = moved_by_order[order.pk] + manual
        booked = sum((p.amount for p in succeeded), Decimal("0.00"))
        where = f"order {order.order_no} ({order.channel}, paid {order.amount_paid})"
        if out > order.amount_paid:
            violations.append(
                Violation(
                    "no order gets back more than was paid",
                    f"{where}: {out} went back ({moved_by_order[order.pk]} by the gateway, {manual} by transfer)",
                    order.pk,
                )
            )
        if out != order.refunded_total:
            violations.append(
                Violation(
                    "what went back equals the order's refunded total",
                    f"{where}: {out} went back ({moved_by_order[order.pk]} by the gateway, {manual} by transfer), "
                    f"our refunded total says {order.refunded_total}",
                    order.pk,
                )
            )
        if booked != order.refunded_total:
            violations.append(
                Violation(
                    "the order's refunded total is its succeeded payouts",
                    f"{where}: succeeded payouts {booked}, refunded total {order.refunded_total}",
                    order.pk,
                )
            )
    violations += _request_violations(chaos)
    order_ids = {o.order_no: o.pk for o in chaos.orders}
    for index, order_no, error in chaos.crashes:
        violations.append(
            Violation(
                "a service refuses or acts, it never crashes", f"operation #{index}: {error}", order_ids.get(order_no)
            )
        )
    for error in worker_crashes(chaos):
        violations.append(Violation("a payout task acts or retries, it never crashes", error))
    return violations


def worker_crashes(chaos: Chaos) -> list[str]:
    """Payout tasks that raised in a worker, from the workers' logs (the error, once per kind)."""
    found: Counter[str] = Counter()
    for worker in chaos.workers:
        text = worker.log_path.read_text(errors="replace") if worker.log_path else ""
        for line in text.splitlines():
            if "execute_payout[" in line and " raised unexpected: " in line:
                found[line.split(" raised unexpected: ", 1)[1][:240]] += 1
    return [f"{n}× {error}" for error, n in found.most_common()]


def _request_violations(chaos: Chaos) -> list[Violation]:
    violations = []
    for request in RefundRequest.objects.select_related("order").order_by("pk"):
        payouts = list(request.payouts.all())
        live = [p for p in payouts if p.status in IN_FLIGHT]
        succeeded = [p for p in payouts if p.status == PayoutStatus.SUCCEEDED]
        where = f"{request.request_no} ({request.status}, {request.approved_amount})"

        def broken(rule: str, why: str, request=request) -> None:
            violations.append(Violation(rule, why, request.order_id))

        if len(succeeded) > 1:
            broken("a request is paid once", f"{where} has {len(succeeded)} succeeded payouts")
        if request.status in PENDING:
            if not chaos._deciders(request):
                broken("a pending request has someone who may decide it", f"{where}: nobody may decide it")
        elif request.status in (RefundStatus.APPROVED, RefundStatus.PAYING):
            if not live:
                broken(
                    "an approved or paying request has a payout on its way",
                    f"{where}: no payout queued, sent or unknown ({', '.join(p.status for p in payouts) or 'none'})",
                )
            elif any(p.needs_check_since is None for p in live):
                broken("everything settles", f"{where}: payout {live[0].payout_no} still {live[0].status}")
        elif request.status in ACTIONABLE:
            pass  # the student, or finance, acts next
        elif request.status in FINAL:
            if request.status == RefundStatus.REFUNDED and len(succeeded) != 1:
                broken("a refunded request has its payout", f"{where} has {len(succeeded)} succeeded payouts")
        else:
            broken("every request is in a known state", f"{where}")
    return violations


# --- Telling it --------------------------------------------------------------------------------


def summary(chaos: Chaos) -> str:
    kinds = sorted({kind for kind, _ in chaos.counts})
    lines = ["operations (outcome: count):"]
    for kind in kinds:
        outcomes = {o: n for (k, o), n in chaos.counts.items() if k == kind}
        lines.append(f"  {kind:<30} " + ", ".join(f"{o}: {n}" for o, n in sorted(outcomes.items())))
    lines.append("faults armed: " + ", ".join(f"{k} ×{n}" for k, n in sorted(chaos.faults.items())))
    lines.append(f"worker kills: {chaos.kills}")
    lines.append(
        "requests: "
        + ", ".join(
            f"{s}: {n}" for s, n in sorted(Counter(RefundRequest.objects.values_list("status", flat=True)).items())
        )
    )
    lines.append(
        "payouts: "
        + ", ".join(f"{s}: {n}" for s, n in sorted(Counter(Payout.objects.values_list("status", flat=True)).items()))
    )
    partial = (
        Order.objects.filter(pk__in=[o.pk for o in chaos.orders], refunded_total__gt=0)
        .filter(refunded_total__lt=F("amount_paid"))
        .count()
    )
    several = sum(1 for n in Counter(RefundRequest.objects.values_list("order_id", flat=True)).values() if n > 1)
    lines.append(f"orders partly refunded: {partial}; orders with several requests: {several}")
    lines.append(f"gateway: {len(chaos.sim.ledger.movements)} movements, {chaos.sim.total_refunded} in all")
    return "\n".join(lines)


def story(chaos: Chaos, order_id: int) -> str:
    """Everything that happened to one order: our operations, its requests' transitions, its
    payouts and their exchanges with the gateway, and what the gateway moved."""
    order = Order.objects.get(pk=order_id)
    lines = [
        f"order {order.order_no}: {order.channel}, paid {order.amount_paid}, refunded total {order.refunded_total}"
    ]
    lines.append("  operations:")
    lines += [f"    {e.line()}" for e in chaos.log if e.order_no == order.order_no]
    for request in RefundRequest.objects.filter(order=order).order_by("pk"):
        lines.append(f"  request {request.request_no}: {request.status}, approved {request.approved_amount}")
        for t in RefundTransition.objects.filter(request=request).order_by("created_at", "pk"):
            lines.append(
                f"    {t.created_at:%H:%M:%S.%f} {t.name}: {t.from_status or '-'} → {t.to_status} {t.comment[:60]}"
            )
        for payout in request.payouts.order_by("pk"):
            lines.append(
                f"    payout {payout.payout_no} {payout.channel} {payout.amount}: {payout.status}"
                f"{' (flagged for a manual check)' if payout.needs_check_since else ''}"
                f" moved ×{chaos.sim.refunds_executed().get(payout.payout_no, 0)}"
            )
            for x in payout.exchanges.order_by("created_at", "pk"):
                lines.append(f"      {x.created_at:%H:%M:%S.%f} {x.kind} → {x.outcome} {x.error_code} {x.note[:70]}")
    return "\n".join(lines)


def report(chaos: Chaos, violations: list[Violation], *, settled: bool, seconds: float) -> str:
    rerun = f"CHAOS_SEED={chaos.seed} make test PYTEST_ARGS='tests/payments/test_chaos.py'"
    lines = [f"chaos seed {chaos.seed}: {len(violations)} invariant(s) broken (rerun: {rerun})"]
    by_rule = Counter(v.invariant for v in violations)
    lines += [f"  {n}× {rule}" for rule, n in by_rule.most_common()]
    lines.append(f"settled: {settled} after {seconds:.1f}s")
    for log in chaos.worker_deaths:
        lines.append(f"a worker died on its own; its log ends:\n{log[-2000:]}")
    if not settled and chaos.worker is not None:
        lines.append(f"the worker's log ends:\n{chaos.worker.log()[-1500:]}")
    lines.append("")
    lines += [f"- {violation.invariant}: {violation.detail}" for violation in violations[:30]]
    lines.append("")
    lines.append(summary(chaos))
    # One story for each broken invariant: the first order that broke it (an order tells several).
    told: list[int] = []
    for rule in by_rule:
        order_id = next((v.order_id for v in violations if v.invariant == rule and v.order_id is not None), None)
        if order_id is not None and order_id not in told:
            told.append(order_id)
            lines.append("")
            lines.append(f"[{rule}]")
            lines.append(story(chaos, order_id))
    lines.append("")
    lines.append(f"chaos seed {chaos.seed}")
    return "\n".join(lines)
