"""Load data: campuses full of refund requests (100,000 by default) and orders for benchmarks and query plans.

``DJANGO_DEBUG=1 DATABASE_URL=postgres://… .venv/bin/python bench/refund_load.py --requests 100000 --seed 1``
``… bench/refund_load.py --requests 1000000 --orders 5000000`` (the analytics scale: most orders
without a refund request, paid over the last two years; PostgreSQL only, as always)

The benchmarks call it themselves (``call_command(Command(), …)``) when their database has no
generated campus; the tests import it as ``bench.refund_load``.

The rows are written with PostgreSQL's ``COPY`` in batches (ids drawn from the sequences first),
not through ``refund_submit`` and the decision services: those take ~20 queries, a quote and a row
lock per request and would need the better part of an hour for 100,000. Instead every row is built
in memory as the services would have left it, and the data keeps every rule they keep:

- one request per order (so at most one open request per order), one quote snapshot each,
  its total within what is refundable, amounts never negative, order totals matching the order
  status (a refunded request's money is on its order);
- ``status`` matches ``route[route_position]``; each tier passed has its decided step (decided
  by a different person of the right role), the current tier of a pending request has exactly
  one pending step, assigned as ``_assignee_for`` assigns it (homeroom teacher, that teacher's
  supervisor, the campus head; quality and finance are pools), due after the campus's SLA;
  steps past it are partly escalated to the next person up;
- a transition row for every change of state: submit, each decision, payouts.

Orders beyond one per request (``--orders``) are plain paid orders with their enrollment (a
homeroom teacher of the campus, learning progress by the time since payment), paid over the last
two years; a campus has a third as many students as orders.

Not written: history rows (nobody made these changes), quote lines, learning events, and
refund events (an undelivered event would be sent out as a notification by the dispatcher).

Campuses are written by ``--jobs`` forked processes (2 by default), one transaction each: building
the rows is Python-bound, so two processes take about 80 s for 100,000 requests where one takes
about 130 s. ``--jobs 1`` (and any run inside a transaction, as in tests) writes everything in one
transaction instead.

Refuses to run on a database that already has generated campuses unless ``--force``, which
adds as many campuses again, numbered after the existing ones.
"""

from __future__ import annotations

import datetime
import io
import itertools
import json
import multiprocessing
import os
import sys
from pathlib import Path

if __name__ == "__main__":  # run as a script: the project on the path and its apps loaded first
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "schoolops.settings")
    import django

    django.setup()

import random
import secrets
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import TextIO, TypeVar

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, connections, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from orders.models import Course, CourseType, Order, OrderStatus, PaymentChannel
from refunds import routing
from refunds.models import (
    TIER_STATUS,
    ApprovalSettings,
    ApprovalStep,
    ApprovalTier,
    QuoteMethod,
    QuoteSnapshot,
    RefundPolicy,
    RefundReason,
    RefundRequest,
    RefundStatus,
    RefundTransition,
    StepDecision,
)
from refunds.services.quoting import refund_policy_terms
from schoolops.models import Campus, Staff, StaffRole, User
from schoolops.roles import role_group_name
from students.models import Enrollment, Student

CODE_PREFIX = "load-"
CENT = Decimal("0.01")
HOUR = datetime.timedelta(hours=1)
DAY = datetime.timedelta(days=1)
CITIES = ["北京", "上海", "广州", "深圳", "杭州", "成都", "武汉", "南京", "西安", "重庆"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = ["小明", "雨涵", "子轩", "欣怡", "浩然", "梓涵", "宇航", "思琪", "俊杰", "佳怡", "一诺", "嘉怡", "文博", "静怡"]

# What a request has come to, in the proportions of a busy after-sale team.
OUTCOMES = [
    ("pending", 30.0),
    ("needs_info", 4.0),
    ("approved", 3.0),
    ("paying", 1.0),
    ("payout_failed", 1.5),
    ("refunded", 40.0),
    ("rejected", 11.5),
    ("cancelled", 9.0),
]
REASONS = [
    (RefundReason.TIME_CONFLICT, 30),
    (RefundReason.CONTENT_MISMATCH, 8),
    (RefundReason.QUALITY, 7),
    (RefundReason.ILLNESS, 7),
    (RefundReason.RELOCATION, 4),
    (RefundReason.DUPLICATE_PURCHASE, 10),
    (RefundReason.TECHNICAL, 12),
    (RefundReason.OTHER, 22),
]
OUTCOME_VALUES = [outcome for outcome, _weight in OUTCOMES]
OUTCOME_WEIGHTS = list(itertools.accumulate(weight for _outcome, weight in OUTCOMES))
REASON_VALUES = [reason for reason, _weight in REASONS]
REASON_WEIGHTS = list(itertools.accumulate(weight for _reason, weight in REASONS))
DETAILS = {
    RefundReason.TIME_CONFLICT: "工作调动，周末没有时间上课了。",
    RefundReason.CONTENT_MISMATCH: "课程大纲和宣传页上写的内容不一样。",
    RefundReason.QUALITY: "老师讲课照本宣科，答疑也不及时。",
    RefundReason.ILLNESS: "住院治疗，医生建议休息三个月。",
    RefundReason.RELOCATION: "全家移居海外，无法继续上课。",
    RefundReason.DUPLICATE_PURCHASE: "不小心重复购买了同一门课。",
    RefundReason.TECHNICAL: "家里网络不好，直播总是卡顿。",
    RefundReason.OTHER: "个人原因，暂时不学了，希望退费。",
}
SPECIAL_REASONS = {RefundReason.ILLNESS, RefundReason.RELOCATION, RefundReason.QUALITY}
# (type, lessons range, price range in yuan, weight among a campus's courses)
COURSE_KINDS = [
    (CourseType.TRIAL, (2, 4), (49, 199), 3),
    (CourseType.RECORDED, (20, 40), (399, 2999), 8),
    (CourseType.LIVE, (16, 48), (1200, 4999), 8),
    (CourseType.ONE_ON_ONE, (10, 40), (3000, 9800), 3),
    (CourseType.PREMIUM, (36, 60), (9800, 29800), 2),
]
COURSES_PER_CAMPUS = 24
ORDER_DAYS = 730  # orders without a refund request are paid over the last two years
ModelT = TypeVar("ModelT", bound=models.Model)
# Fresh planner statistics, so query plans on the new data are the plans production would get.
ANALYZED = (User, Student, Order, Enrollment, QuoteSnapshot, RefundRequest, ApprovalStep, RefundTransition)
CHANNELS = [PaymentChannel.WECHAT] * 5 + [PaymentChannel.ALIPAY] * 3 + [PaymentChannel.CARD, PaymentChannel.OFFLINE]


@dataclass
class CampusStaff:
    head: Staff
    supervisors: list[Staff]
    teachers: list[Staff]
    finance: list[Staff]
    service: list[Staff]
    quality: list[Staff]
    operations: list[Staff] = field(default_factory=list)

    def all(self) -> list[Staff]:
        return [self.head, *self.supervisors, *self.teachers, *self.finance, *self.service, *self.quality]


@dataclass
class Plan:
    """One request as the services would have left it, before it has primary keys."""

    seq: int
    course: Course
    student: Student
    teacher: Staff
    reason: str
    outcome: str
    paid_at: datetime.datetime
    submitted_at: datetime.datetime
    total: Decimal
    method: str
    route: list[str]
    position: int
    flags: list[str]
    # (tier, assignee id, decision, decided_by id, created, due, decided, escalated_at, escalated_to id)
    steps: list[tuple]
    # (name, actor user id, from, to, at)
    transitions: list[tuple]
    decided_at: datetime.datetime | None
    lessons_consumed: int


_RUNNING: Command | None = None  # the command, for the worker processes it forks


def _campus_worker(number: int, count: int, orders: int, first: int) -> list[tuple[str, str]]:
    """A worker process's job: one campus, on a connection of its own."""
    try:
        return _RUNNING._campus_written(number, count, orders, first=first)
    finally:
        connections.close_all()


class Command(BaseCommand):
    help = "Bulk-create campuses, staff, students, orders and refund requests with their approval steps."

    def add_arguments(self, parser):
        parser.add_argument("--requests", type=int, default=100_000, help="refund requests to create (100000)")
        parser.add_argument(
            "--orders",
            type=int,
            default=0,
            help="orders in all, at least --requests; those beyond one per request have no refund request, paid "
            "over the last two years (default: one per request)",
        )
        parser.add_argument("--campuses", type=int, default=5, help="campuses to spread them over (5)")
        parser.add_argument("--seed", type=int, default=1, help="random seed: the same seed makes the same data")
        parser.add_argument("--batch-size", type=int, default=5000, help="rows per INSERT (5000)")
        parser.add_argument("--password", default="", help="password of the generated staff (default: random)")
        parser.add_argument(
            "--jobs",
            type=int,
            default=2,
            help="worker processes, one campus and one transaction each (2); 1: everything in one transaction",
        )
        parser.add_argument(
            "--force", action="store_true", help="add more campuses even if generated ones exist already"
        )

    def handle(self, *args, **options):
        requests, campuses = options["requests"], options["campuses"]
        orders = options["orders"] or requests
        if requests < 1 or campuses < 1 or options["jobs"] < 1:
            raise CommandError("--requests, --campuses and --jobs must be at least 1.")
        if orders < requests:
            raise CommandError("--orders must be at least --requests (every request has its order).")
        if campuses > 999 or requests // campuses > 999_999 or orders // campuses > 2_999_999:
            raise CommandError("At most 999 campuses, 999,999 requests and 2,999,999 orders per campus.")
        if connection.vendor != "postgresql":
            raise CommandError("The load generator writes with PostgreSQL's COPY: point DATABASE_URL at PostgreSQL.")
        existing = list(Campus.objects.filter(code__startswith=CODE_PREFIX).values_list("code", flat=True))
        if existing and not options["force"]:
            raise CommandError(
                f"This database already has {len(existing)} generated campuses ({CODE_PREFIX}*); "
                "pass --force to add more."
            )
        first = max((int(code.removeprefix(CODE_PREFIX)) for code in existing), default=0) + 1
        if first + campuses - 1 > 999:
            raise CommandError("Campus numbers would pass 999.")
        self.policies = self._policies()
        password = options["password"] or secrets.token_urlsafe(12)
        self.seed = options["seed"]
        self.batch_size = options["batch_size"]
        self.staff_password = make_password(password)
        self.student_password = make_password(None)
        self.now = timezone.now()
        started = time.monotonic()
        work = [
            (
                first + index,
                requests // campuses + (1 if index < requests % campuses else 0),
                orders // campuses + (1 if index < orders % campuses else 0),
            )
            for index in range(campuses)
        ]
        jobs = min(options["jobs"], campuses)
        if jobs > 1 and (connection.in_atomic_block or "fork" not in multiprocessing.get_all_start_methods()):
            # Inside the caller's transaction (a test) the rows must be written on its connection.
            jobs = 1
        if jobs == 1:
            by_campus = {}
            with transaction.atomic():  # all or nothing: a failed run leaves no half campus behind
                for number, count, campus_orders in work:
                    by_campus[number] = self._campus_written(number, count, campus_orders, first=first)
                    self.stdout.write(
                        f"  campus {CODE_PREFIX}{number:03d}: {count:,} requests, {campus_orders:,} orders"
                    )
            logins = by_campus[first]
        else:
            logins = self._campuses_in_workers(work, first=first, jobs=jobs)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                for model in ANALYZED:
                    cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Created {requests:,} refund requests and {orders:,} orders in {campuses} campuses in {elapsed:.1f} s."
            )
        )
        self.stdout.write(f"Staff logins at /admin/ (password for all generated staff: {password}):")
        width = max(len(who) for who, _login in logins)
        for who, login in logins:
            self.stdout.write(f"  {who:<{width}}  {login}")

    def _campus_written(self, number: int, count: int, orders: int, *, first: int) -> list[tuple[str, str]]:
        """One campus in one transaction; its bench logins."""
        with transaction.atomic():
            if connection.vendor == "postgresql":
                # Load data: losing the last commit in a server crash costs a rerun, not a refund.
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
            rng = random.Random(f"{self.seed}:{number}")  # noqa: S311 - load data, not security
            staff = self._campus(number=number, count=count, orders=orders, rng=rng, head_office=number == first)
        return self._logins(staff)

    def _campuses_in_workers(self, work: list[tuple[int, int, int]], *, first: int, jobs: int) -> list[tuple[str, str]]:
        """Campuses written by ``jobs`` forked processes, one transaction per campus.

        Building rows is Python-bound, so a second process nearly halves the time on two CPUs. A
        failed campus fails the command, but the campuses already committed stay (a later
        ``--force`` run adds to them). The children inherit this command; the parent's database
        connections are closed before the fork so that no two processes share one.
        """
        global _RUNNING
        for role in StaffRole.values:  # created here, so that two workers never race to create one
            Group.objects.get_or_create(name=role_group_name(role))
        _RUNNING = self
        connections.close_all()
        logins: dict[int, list[tuple[str, str]]] = {}
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            futures = {
                pool.submit(_campus_worker, number, count, orders, first): (number, count, orders)
                for number, count, orders in work
            }
            for future in as_completed(futures):
                number, count, orders = futures[future]
                logins[number] = future.result()
                self.stdout.write(f"  campus {CODE_PREFIX}{number:03d}: {count:,} requests, {orders:,} orders")
        _RUNNING = None
        return logins[first]

    # --- building -------------------------------------------------------------------------

    def _policies(self) -> dict[str, tuple[RefundPolicy, dict]]:
        found = {
            policy.course_type: (policy, refund_policy_terms(policy=policy).as_dict())
            for policy in RefundPolicy.objects.filter(is_active=True, course__isnull=True).prefetch_related(
                "tiers", "special_rules"
            )
        }
        for _policy, terms in found.values():  # the same JSON in every snapshot of a policy: encoded once
            _POLICY_TERMS[id(terms)] = json.dumps(terms, ensure_ascii=False, cls=DjangoJSONEncoder).translate(
                _COPY_ESCAPES
            )
        missing = sorted(set(CourseType.values) - set(found))
        if missing:
            raise CommandError(f"No active refund policy for course types {', '.join(missing)}; run migrate first.")
        return found

    def _campus(self, *, number: int, count: int, orders: int, rng: random.Random, head_office: bool) -> CampusStaff:
        code = f"{CODE_PREFIX}{number:03d}"
        city = CITIES[number % len(CITIES)]
        campus = Campus.objects.create(code=code, name=f"{city}压测校区{number:03d}", city=city, phone="400-800-1234")
        if number % 2:
            # Odd campuses decided their own thresholds; even ones work on the defaults.
            settings = ApprovalSettings.objects.create(
                campus=campus, small_below=Decimal("300.00"), large_above=Decimal("3000.00"), sla_homeroom_hours=48
            )
        else:
            settings = ApprovalSettings(campus=campus)
        staff = self._staff(campus=campus, number=number, count=count, head_office=head_office)
        courses = self._courses(campus=campus, number=number, rng=rng)
        # A third as many students as orders: most have one to three, a few refund often.
        students = self._students(campus=campus, number=number, count=max(1, orders // 3), rng=rng)
        for start in range(0, count, 5000):
            plans = [
                self._plan(seq, rng=rng, courses=courses, students=students, staff=staff, settings=settings)
                for seq in range(start + 1, min(count, start + 5000) + 1)
            ]
            self._write(plans, campus=campus, number=number, rng=rng)
        for start in range(0, orders - count, 20_000):
            self._write_orders(
                range(start + 1, min(orders - count, start + 20_000) + 1),
                number=number,
                rng=rng,
                courses=courses,
                students=students,
                teachers=staff.teachers,
            )
        return staff

    def _user(self, username: str, name: str) -> User:
        return User(username=username, name=name, password=self.staff_password, is_staff=True)

    def _staff(self, *, campus: Campus, number: int, count: int, head_office: bool) -> CampusStaff:
        """The campus's people, saved one by one so their groups follow their role (a few dozen)."""
        prefix = f"load{number:03d}"
        city = campus.city

        def make(username: str, name: str, role: str, manager: Staff | None) -> Staff:
            user = self._user(f"{prefix}-{username}", name)
            user.save()
            return Staff.objects.create(user=user, role=role, campus=campus, manager=manager)

        head = make("head", f"{city}赵校长{number:03d}", StaffRole.CAMPUS_HEAD, None)
        supervisors = [
            make(f"supervisor{k:02d}", f"{city}钱主管{k:02d}", StaffRole.SUPERVISOR, head)
            for k in range(1, min(4, max(1, count // 6000)) + 1)
        ]
        teachers = [
            make(
                f"teacher{k:02d}",
                f"{city}{SURNAMES[(number * 7 + k) % len(SURNAMES)]}老师{k:02d}",
                StaffRole.HOMEROOM,
                supervisors[(k - 1) % len(supervisors)],
            )
            for k in range(1, min(12, max(2, count // 1700)) + 1)
        ]
        finance = [make(f"finance{k:02d}", f"{city}李会计{k:02d}", StaffRole.FINANCE, head) for k in (1, 2)]
        service = [make(f"service{k:02d}", f"{city}吴客服{k:02d}", StaffRole.SERVICE, supervisors[0]) for k in (1, 2)]
        quality = [
            make(f"quality{k:02d}", f"{city}郑质检{k:02d}", StaffRole.QUALITY, supervisors[0])
            for k in range(1, (2 if count > 10_000 else 1) + 1)
        ]
        staff = CampusStaff(head, supervisors, teachers, finance, service, quality)
        if head_office:
            staff.operations = [make("ops", f"周运营{number:03d}", StaffRole.OPERATIONS, None)]
        # Teacher 2 is away this week: teacher 1 works both queues (the delegation path of the queue).
        today = timezone.localdate(self.now)
        away = teachers[1]
        away.delegate, away.delegate_from, away.delegate_until = teachers[0], today - 2 * DAY, today + 5 * DAY
        away.save(update_fields=["delegate", "delegate_from", "delegate_until"])
        return staff

    def _courses(self, *, campus: Campus, number: int, rng: random.Random) -> list[Course]:
        kinds = rng.choices(COURSE_KINDS, weights=[kind[3] for kind in COURSE_KINDS], k=COURSES_PER_CAMPUS)
        courses = []
        for k, (course_type, lessons, prices, _weight) in enumerate(kinds, start=1):
            starts_at = (self.now - rng.uniform(-30, 400) * DAY).replace(minute=0, second=0, microsecond=0)
            courses.append(
                Course(
                    code=f"load{number:03d}-{course_type.replace('_', '-')}-{k:02d}",
                    name=f"{CourseType(course_type).label} {number:03d}-{k:02d}",
                    course_type=course_type,
                    campus=campus,
                    lessons=rng.randint(*lessons),
                    price=Decimal(rng.randint(*prices)).quantize(CENT),
                    starts_at=starts_at,
                    ends_at=starts_at + rng.randint(30, 300) * DAY,
                )
            )
        return Course.objects.bulk_create(courses, batch_size=self.batch_size)

    def _students(self, *, campus: Campus, number: int, count: int, rng: random.Random) -> list[Student]:
        users = [
            User(
                username=f"load{number:03d}-s{i:06d}",
                name=SURNAMES[rng.randrange(len(SURNAMES))] + GIVEN[rng.randrange(len(GIVEN))],
                phone=f"17{number:03d}{i:06d}",
                email=f"load{number:03d}-s{i:06d}@example.com",
                password=self.student_password,
            )
            for i in range(1, count + 1)
        ]
        self._copy(users)
        students = []
        for i, user in enumerate(users, start=1):
            risky = rng.random() < 0.01
            students.append(
                Student(
                    user=user,
                    student_no=f"L{number:03d}{i:07d}",
                    campus=campus,
                    high_risk=risky,
                    high_risk_note="多次恶意退费" if risky else "",
                )
            )
        return self._copy(students)

    # --- one request ----------------------------------------------------------------------

    def _plan(self, seq: int, *, rng: random.Random, courses, students, staff: CampusStaff, settings) -> Plan:
        now = self.now
        course = rng.choice(courses)
        student = rng.choice(students)
        teacher = rng.choice(staff.teachers)
        reason = rng.choices(REASON_VALUES, cum_weights=REASON_WEIGHTS)[0]
        outcome = rng.choices(OUTCOME_VALUES, cum_weights=OUTCOME_WEIGHTS)[0]
        price = course.price
        contract = course.course_type == CourseType.PREMIUM
        if contract:
            method, share = QuoteMethod.CONTRACT, rng.uniform(0.3, 0.9)
        elif course.course_type == CourseType.TRIAL or rng.random() < 0.15:
            method, share = QuoteMethod.COOLING_OFF, 1.0
        elif reason in SPECIAL_REASONS and rng.random() < 0.7:
            method, share = QuoteMethod.SPECIAL_RULE, rng.uniform(0.6, 1.0)
        else:
            method, share = QuoteMethod.RULES, rng.uniform(0.2, 0.9)
        total = max(CENT, (price * Decimal(str(round(share, 4)))).quantize(CENT, ROUND_HALF_UP))
        flags = []
        if student.high_risk:
            flags.append(_("The student is flagged high-risk: %(note)s") % {"note": student.high_risk_note})
        elif rng.random() < 0.04:
            flags.append(_("Refunds in the last 12 months: %(count)d.") % {"count": rng.randint(4, 7)})
        route = routing.route_for(
            amount=price if contract else total,  # contract courses are routed by the most they could refund
            reason=reason,
            small_below=settings.small_below,
            large_above=settings.large_above,
            needs_person=bool(flags),
        )
        people = [i for i, tier in enumerate(route) if tier != ApprovalTier.AUTO]
        open_at = rng.choice(people)
        position = {"pending": open_at, "needs_info": open_at, "rejected": open_at, "cancelled": open_at}.get(
            outcome, len(route)
        )
        # When the last step happened (opened, for a pending request; decided, otherwise).
        if outcome == "pending":
            sla = settings.sla_hours(route[position]) * HOUR
            overdue = rng.random() < 0.25
            last = now - (sla + rng.uniform(0.05, 7) * DAY if overdue else rng.uniform(0, 0.95) * sla)
        elif outcome == "needs_info":
            last = now - rng.uniform(0.05, settings.needs_info_days - 1) * DAY
        elif outcome in ("approved", "paying", "payout_failed"):
            last = now - rng.uniform(0.2, 20) * DAY
        else:
            last = now - rng.uniform(1, 364) * DAY
        durations = [HOUR * rng.uniform(0.5, 30) if tier != ApprovalTier.AUTO else HOUR * 0 for tier in route]
        decided_current = outcome != "pending"
        upto = min(position, len(route) - 1)
        before = sum(durations[:upto], datetime.timedelta()) + (durations[upto] if decided_current else HOUR * 0)
        submitted_at = last - before
        paid_at = submitted_at - rng.uniform(0.05, 60) * DAY

        chain = {
            ApprovalTier.HOMEROOM: teacher,
            ApprovalTier.SUPERVISOR: teacher.manager,
            ApprovalTier.CAMPUS_HEAD: staff.head,
        }
        steps, transitions = [], []
        student_user = student.user_id
        status = TIER_STATUS[route[0]]
        transitions.append(("submit", student_user, "", status, submitted_at))
        at = submitted_at
        for index, tier in enumerate(route[: position + 1] if position < len(route) else route):
            created = at
            if tier == ApprovalTier.AUTO:
                steps.append((tier, None, StepDecision.AUTO_PASSED, None, created, created, created, None, None))
                continue
            assignee = chain.get(tier)
            due = created + settings.sla_hours(tier) * HOUR
            if index == position and outcome == "pending":
                escalated_at = escalated_to = None
                if due < now and rng.random() < 0.6:
                    escalated_at = min(now, due + rng.uniform(0, 5) * datetime.timedelta(minutes=1))
                    escalated_to = assignee.manager if assignee is not None else staff.head
                    if escalated_to is not None and assignee is not None and escalated_to.pk == assignee.pk:
                        escalated_to = None
                steps.append(
                    (
                        tier,
                        _pk(assignee),
                        StepDecision.PENDING,
                        None,
                        created,
                        due,
                        None,
                        escalated_at,
                        _pk(escalated_to),
                    )
                )
                break
            decided = created + durations[index]
            decider = assignee or rng.choice(staff.quality if tier == ApprovalTier.QUALITY else staff.finance)
            if index < position:
                decision = StepDecision.APPROVED
                following = route[index + 1 :]
                nxt = next((t for t in following if t != ApprovalTier.AUTO), None)
                # Past the last person (only the automatic check may follow, and it passed): approved.
                to_status = TIER_STATUS[nxt] if nxt is not None else RefundStatus.APPROVED
                transitions.append(("approve", decider.user_id, status, to_status, decided))
                status = to_status
            elif outcome == "rejected":
                decision = StepDecision.REJECTED
                transitions.append(("reject", decider.user_id, status, RefundStatus.REJECTED, decided))
            elif outcome == "needs_info":
                decision = StepDecision.RETURNED
                transitions.append(("return", decider.user_id, status, RefundStatus.NEEDS_INFO, decided))
            else:  # cancelled by the student while the step waited
                decision, decider = StepDecision.CANCELLED, None
                transitions.append(("cancel", student_user, status, RefundStatus.CANCELLED, decided))
            steps.append((tier, _pk(assignee), decision, _pk(decider), created, due, decided, None, None))
            at = decided
        if position >= len(route) and status != RefundStatus.APPROVED:
            status = RefundStatus.APPROVED
        payout_at = last + rng.uniform(0.05, 2) * HOUR
        if outcome in ("paying", "payout_failed", "refunded"):
            transitions.append(("start_payout", None, RefundStatus.APPROVED, RefundStatus.PAYING, payout_at))
        if outcome == "payout_failed":
            transitions.append(("fail_payout", None, RefundStatus.PAYING, RefundStatus.PAYOUT_FAILED, payout_at + HOUR))
        elif outcome == "refunded":
            transitions.append(("confirm_payout", None, RefundStatus.PAYING, RefundStatus.REFUNDED, payout_at + HOUR))
        progress = 0.0 if method == QuoteMethod.COOLING_OFF else rng.uniform(0, 0.6)
        return Plan(
            seq=seq,
            course=course,
            student=student,
            teacher=teacher,
            reason=reason,
            outcome=outcome,
            paid_at=paid_at,
            submitted_at=submitted_at,
            total=min(total, price),
            method=method,
            route=route,
            position=min(position, len(route)),
            flags=flags,
            steps=steps,
            transitions=transitions,
            decided_at=None if outcome in ("pending", "needs_info") else last,
            lessons_consumed=int(course.lessons * progress),
        )

    # --- writing --------------------------------------------------------------------------

    def _write(self, plans: list[Plan], *, campus: Campus, number: int, rng: random.Random) -> None:
        statuses = {
            "pending": None,
            "needs_info": RefundStatus.NEEDS_INFO,
            "approved": RefundStatus.APPROVED,
            "paying": RefundStatus.PAYING,
            "payout_failed": RefundStatus.PAYOUT_FAILED,
            "refunded": RefundStatus.REFUNDED,
            "rejected": RefundStatus.REJECTED,
            "cancelled": RefundStatus.CANCELLED,
        }
        orders = []
        for plan in plans:
            channel = CHANNELS[plan.seq % len(CHANNELS)]
            refunded = plan.total if plan.outcome == "refunded" else Decimal("0.00")
            if refunded == 0:
                order_status = OrderStatus.PAID
            elif refunded == plan.course.price:
                order_status = OrderStatus.REFUNDED
            else:
                order_status = OrderStatus.PARTIALLY_REFUNDED
            orders.append(
                Order(
                    order_no=f"LD{number:03d}{plan.seq:07d}",
                    student_id=plan.student.pk,
                    course_id=plan.course.pk,
                    amount_paid=plan.course.price,
                    paid_at=plan.paid_at,
                    channel=channel,
                    gateway_trade_no="" if channel == PaymentChannel.OFFLINE else f"LG{number:03d}{plan.seq:010d}",
                    refunded_total=refunded,
                    status=order_status,
                )
            )
        self._copy(orders)

        enrollments = []
        for plan, order in zip(plans, orders, strict=True):
            lessons = plan.course.lessons
            consumed = plan.lessons_consumed
            enrollments.append(
                Enrollment(
                    order_id=order.pk,
                    homeroom_teacher_id=plan.teacher.pk,
                    lessons_consumed=consumed,
                    lessons_watched=consumed,
                    watch_progress=(Decimal(consumed * 100) / lessons).quantize(CENT),
                    study_seconds=consumed * rng.randint(1500, 3600),
                    live_sessions_attended=consumed if plan.course.course_type == CourseType.LIVE else 0,
                    homework_submitted=int(consumed * 0.7),
                    rating=rng.choice([None, None, 3, 4, 5]) if consumed >= 3 else None,
                    last_learning_at=plan.paid_at + (plan.submitted_at - plan.paid_at) * 0.8 if consumed else None,
                )
            )
        self._copy(enrollments)

        snapshots = []
        for plan, order in zip(plans, orders, strict=True):
            policy, terms = self.policies[plan.course.course_type]
            lessons = plan.course.lessons
            start = plan.course.starts_at
            snapshots.append(
                QuoteSnapshot(
                    order_id=order.pk,
                    policy_id=policy.pk,
                    policy_version=policy.version,
                    policy_name=policy.name,
                    policy_terms=terms,
                    reason=plan.reason,
                    method=plan.method,
                    total=plan.total,
                    refundable=order.amount_paid,
                    needs_approver_amount=plan.method == QuoteMethod.CONTRACT,
                    evidence_required="",
                    quoted_at=plan.submitted_at,
                    day_from_purchase=(plan.submitted_at - plan.paid_at).days + 1,
                    day_from_start=max(0, (plan.submitted_at - start).days + 1) if plan.submitted_at >= start else 0,
                    consumption_basis=terms["consumption_basis"],
                    units_consumed=plan.lessons_consumed,
                    lessons=lessons,
                    progress_percent=(Decimal(plan.lessons_consumed * 100) / lessons).quantize(CENT),
                    amount_paid=order.amount_paid,
                    refunded_before=Decimal("0.00"),
                    in_flight=Decimal("0.00"),
                    notify_channels=list(terms["notify_channels"]),
                )
            )
        self._copy(snapshots)

        requests = []
        for plan, order, snapshot in zip(plans, orders, snapshots, strict=True):
            position = plan.position
            status = statuses[plan.outcome] or TIER_STATUS[plan.route[position]]
            current = plan.route[min(position, len(plan.route) - 1)]
            passed = position >= len(plan.route)
            requests.append(
                RefundRequest(
                    request_no=f"RF{timezone.localtime(plan.submitted_at):%Y%m%d}L{number:03d}{plan.seq:07d}",
                    order_id=order.pk,
                    student_id=plan.student.pk,
                    campus_id=campus.pk,
                    status=status,
                    reason=plan.reason,
                    details=DETAILS[plan.reason],
                    quote_id=snapshot.pk,
                    requested_amount=plan.total,
                    approved_amount=plan.total,
                    amount_confirmed=snapshot.needs_approver_amount and passed,
                    route=plan.route,
                    route_position=position,
                    returned_tier=current if plan.outcome == "needs_info" else "",
                    rejected_tier=current if plan.outcome == "rejected" else "",
                    risk_flags=plan.flags,
                    submitted_at=plan.submitted_at,
                    decided_at=plan.decided_at,
                )
            )
        self._copy(requests)

        steps, transitions = [], []
        for plan, request in zip(plans, requests, strict=True):
            for tier, assignee, decision, decider, created, due, decided, escalated_at, escalated_to in plan.steps:
                steps.append(
                    ApprovalStep(
                        request_id=request.pk,
                        tier=tier,
                        assignee_id=assignee,
                        decision=decision,
                        decided_by_id=decider,
                        comment="",
                        created_at=created,
                        due_at=due,
                        decided_at=decided,
                        escalated_at=escalated_at,
                        escalated_to_id=escalated_to,
                    )
                )
            for name, actor_id, from_status, to_status, at in plan.transitions:
                transitions.append(
                    RefundTransition(
                        request_id=request.pk,
                        name=name,
                        actor_id=actor_id,
                        from_status=from_status,
                        to_status=to_status,
                        created_at=at,
                    )
                )
        self._copy(steps)
        self._copy(transitions)

    def _write_orders(
        self,
        seqs: range,
        *,
        number: int,
        rng: random.Random,
        courses: list[Course],
        students: list[Student],
        teachers: list[Staff],
    ) -> None:
        """Orders nobody asked a refund for (most of a school's): paid over the last two years, each
        with its enrollment, learning as far along as the time since payment allows."""
        orders, progress = [], []
        by_pk = {course.pk: course for course in courses}
        for seq in seqs:
            course = rng.choice(courses)
            channel = CHANNELS[seq % len(CHANNELS)]
            paid_at = self.now - rng.uniform(0.02, ORDER_DAYS) * DAY
            orders.append(
                Order(
                    order_no=f"LO{number:03d}{seq:08d}",
                    student_id=rng.choice(students).pk,
                    course_id=course.pk,
                    amount_paid=course.price,
                    paid_at=paid_at,
                    channel=channel,
                    gateway_trade_no="" if channel == PaymentChannel.OFFLINE else f"LH{number:03d}{seq:010d}",
                    refunded_total=Decimal("0.00"),
                    status=OrderStatus.PAID,
                )
            )
            # Done with the course after about four months; some stop early.
            age = (self.now - paid_at) / DAY
            progress.append(min(1.0, age / 120) * rng.uniform(0.3, 1.0))
        self._copy(orders)
        enrollments = []
        for order, share in zip(orders, progress, strict=True):
            course = by_pk[order.course_id]
            consumed = int(course.lessons * share)
            enrollments.append(
                Enrollment(
                    order_id=order.pk,
                    homeroom_teacher_id=rng.choice(teachers).pk,
                    lessons_consumed=consumed,
                    lessons_watched=consumed,
                    watch_progress=(Decimal(consumed * 100) / course.lessons).quantize(CENT),
                    study_seconds=consumed * rng.randint(1500, 3600),
                    live_sessions_attended=consumed if course.course_type == CourseType.LIVE else 0,
                    homework_submitted=int(consumed * 0.7),
                    rating=rng.choice([None, None, 3, 4, 5]) if consumed >= 3 else None,
                    last_learning_at=order.paid_at + (self.now - order.paid_at) * share if consumed else None,
                )
            )
        self._copy(enrollments)

    def _copy(self, objects: list[ModelT]) -> list[ModelT]:
        """Insert ``objects`` (one model) with PostgreSQL's ``COPY … FROM STDIN``, ``batch_size`` rows
        a statement, their primary keys drawn from the table's sequence first (so that rows written
        next can point at them). Several times faster than ``bulk_create``: no ``RETURNING``, no
        parameter lists; Django's own defaults (it sets none in the database) filled in as
        ``bulk_create`` would."""
        if not objects:
            return objects
        model = type(objects[0])
        meta = model._meta
        table = meta.db_table
        fields = list(meta.concrete_fields)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [table, meta.pk.column, len(objects)],
            )
            for obj, (pk,) in zip(objects, cursor.fetchall(), strict=True):
                obj.pk = pk
            auto = [f.attname for f in fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)]
            lines = []
            for obj in objects:
                obj._prepare_related_fields_for_save(operation_name="copy")  # a parent's pk, given as instance
                for name in auto:
                    if getattr(obj, name) is None:
                        setattr(obj, name, self.now)
                lines.append("\t".join([_copy_text(getattr(obj, f.attname)) for f in fields]))
            columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
            for start in range(0, len(lines), self.batch_size):
                data = io.StringIO("\n".join(lines[start : start + self.batch_size]) + "\n")
                cursor.cursor.copy_expert(f"COPY {connection.ops.quote_name(table)} ({columns}) FROM STDIN", data)
        return objects

    def _logins(self, staff: CampusStaff) -> list[tuple[str, str]]:
        rows = [
            ("homeroom teacher (also delegate of teacher 2)", staff.teachers[0].user.username),
            ("teaching supervisor", staff.supervisors[0].user.username),
            ("campus head", staff.head.user.username),
            ("finance", staff.finance[0].user.username),
            ("customer service", staff.service[0].user.username),
        ]
        if staff.operations:
            rows.append(("operations (every campus)", staff.operations[0].user.username))
        return rows


# COPY's text format: backslash, tab and line ends escaped, \\N for NULL.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_POLICY_TERMS: dict[int, str] = {}  # id() of a policy's terms dict: its JSON, written once per policy


def _copy_text(value: object) -> str:
    """One value as COPY's text format reads it."""
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    if isinstance(value, (list, dict)):
        if isinstance(value, dict) and id(value) in _POLICY_TERMS:
            return _POLICY_TERMS[id(value)]
        return json.dumps(value, ensure_ascii=False, cls=DjangoJSONEncoder).translate(_COPY_ESCAPES)
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def _pk(staff: Staff | None) -> int | None:
    return staff.pk if staff is not None else None


def generated_school(*, requests: int, stdout: TextIO, orders: int = 0) -> tuple[Campus, str]:
    """The first generated campus and its username prefix (``load001``), generating ``requests``
    requests and ``orders`` orders in all (0: one per request) — once; the data stays for the next
    run — when the database has none."""
    first = Campus.objects.filter(code__startswith=CODE_PREFIX).order_by("code").first()
    if first is None:
        from django.core.management import call_command

        stdout.write(
            f"generating {requests:,} refund requests and {max(orders, requests):,} orders "
            "(once; kept for the next run) ...\n"
        )
        started = time.monotonic()
        call_command(Command(), requests=requests, orders=orders, stdout=stdout)
        stdout.write(f"generated in {time.monotonic() - started:.0f} s\n")
        first = Campus.objects.filter(code__startswith=CODE_PREFIX).order_by("code").first()
    assert first is not None
    return first, "load" + first.code.removeprefix(CODE_PREFIX)


if __name__ == "__main__":
    from django.core.management import call_command

    call_command(Command(), *sys.argv[1:])
