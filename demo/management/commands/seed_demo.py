"""Demo data: one school, two campuses, every staff role, ~50 students with orders and progress.

Orders come in through the order intake (``students.services.orders_record``), as the school's
order system would send them: it creates the students, their accounts and enrollments. Running it
again changes nothing: every row is found by a stable key before it is created.
"""

from __future__ import annotations

import datetime
import logging
import random
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from analytics.alerts import alert_rules_run
from analytics.services import facts_listener_paused, facts_rebuild
from analytics.weekly import last_week_start, weekly_reviews_build
from demo.exchanges import seed_exchanges
from demo.service import seed_service
from demo.tickets import seed_tickets
from notifications.models import NotificationTemplate
from orders.models import Course, CourseType, Order, PaymentChannel
from payments.services import MANUAL_CHANNELS, PayoutError, payout_record_transfer
from refunds.models import PENDING_STATES, RefundRequest, RefundStatus
from refunds.payee import Payee
from refunds.services import (
    RefundActionError,
    refund_appeal,
    refund_approve,
    refund_cancel,
    refund_reject,
    refund_submit,
)
from schoolops.models import Campus, Staff, StaffRole, User
from students.models import HomeroomAssignment, LearningEventKind, LearningEventSource, Student
from students.services import (
    LearningEventInput,
    OrderInput,
    StudentInput,
    learning_events_record,
    orders_record,
)

DEMO_PASSWORD = "schoolops-demo"  # noqa: S105 - printed for the demo; refused outside DEBUG
STUDENT_COUNT = 50
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
HISTORY_DAYS = 150  # the history's orders and refunds go back this far
SPIKE_SIZE = 18  # applications on the spike day, three weeks ago (a normal day has 0-3)
DEMO_PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PROOF = frozenset({"illness", "quality", "relocation"})
HISTORY_REASONS = [
    ("time_conflict", "工作时间调整，无法继续上课。"),
    ("time_conflict", "孩子升学，家里时间安排变了。"),
    ("content_mismatch", "课程内容和宣传页介绍的不一致。"),
    ("quality", "老师经常迟到，直播画面卡顿严重。"),
    ("illness", "住院治疗，医生建议休养。"),
    ("relocation", "全家搬到外地，无法上面授课。"),
    ("duplicate_purchase", "不小心重复下单了。"),
    ("technical", "家里网络不好，直播总是卡顿。"),
]
GIVEN = ["小明", "雨涵", "子轩", "欣怡", "浩然", "梓涵", "宇航", "思琪", "俊杰", "佳怡", "一诺", "嘉怡", "文博", "静怡"]


@dataclass(frozen=True)
class CampusSpec:
    code: str
    name: str
    city: str
    prefix: str


CAMPUSES = [
    CampusSpec("bj-haidian", "北京海淀校区", "北京", "bj"),
    CampusSpec("sh-xuhui", "上海徐汇校区", "上海", "sh"),
]

# (code suffix, name, type, lessons, price, days from now to start, length in days)
COURSES = [
    ("trial", "Python 编程体验课", CourseType.TRIAL, 2, "99.00", 5, 7),
    ("recorded", "Excel 数据分析录播课", CourseType.RECORDED, 30, "1999.00", -40, 365),
    ("live", "雅思口语直播班", CourseType.LIVE, 30, "3000.00", -10, 90),
    ("live-next", "考研英语冲刺直播班", CourseType.LIVE, 24, "2400.00", 12, 60),
    ("one-on-one", "少儿编程一对一", CourseType.ONE_ON_ONE, 20, "6000.00", -20, 120),
    ("premium", "MBA 全程精品班", CourseType.PREMIUM, 48, "19800.00", -30, 300),
]


class Command(BaseCommand):
    help = "Create the demo school (idempotent) and print the logins."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Allow running with DEBUG off.")

    def handle(self, *args, force: bool = False, **options):
        if not settings.DEBUG and not force:
            raise CommandError("seed_demo makes accounts with a published password; refusing with DEBUG off.")
        # The services log every batch and request; a hundred such lines would bury the logins.
        quiet = [logging.getLogger(name) for name in ("students.services", "refunds.services")]
        levels = [log.level for log in quiet]
        for log in quiet:
            log.setLevel(logging.WARNING)
        try:
            # The facts are rebuilt at the end of the seed: no refresh after each of its events.
            with facts_listener_paused(), transaction.atomic():
                logins = self._seed()
        finally:
            for log, level in zip(quiet, levels, strict=True):
                log.setLevel(level)
        self._print_logins(logins)

    # --- building -------------------------------------------------------------------------

    def _seed(self) -> list[tuple[str, str, str]]:
        rng = random.Random(20261123)  # noqa: S311 - demo data, not security
        self._password_hash = make_password(DEMO_PASSWORD)
        now = timezone.now().replace(minute=0, second=0, microsecond=0)
        logins: list[tuple[str, str, str]] = []

        self._provider_template_ids()
        admin = self._user("admin", "系统管理员", is_staff=True, is_superuser=True)
        logins.append(("superuser", admin.username, DEMO_PASSWORD))

        campuses: list[tuple[Campus, dict[str, list[Staff]]]] = []
        for spec in CAMPUSES:
            campus, _ = Campus.objects.get_or_create(
                code=spec.code, defaults={"name": spec.name, "city": spec.city, "phone": "400-800-1234"}
            )
            staff = self._staff_for(campus, spec, logins)
            campuses.append((campus, staff))

        ops_campus, ops_staff = campuses[0]
        ops = self._staff(f"{CAMPUSES[0].prefix}-ops", "周运营", StaffRole.OPERATIONS, ops_campus, None)
        ops_staff[StaffRole.OPERATIONS] = [ops]
        # Head office is a grant to the person, not to a role: the demo's operations and one
        # finance clerk work for every campus; every other staff member sees her own campus.
        every_campus = Permission.objects.get(content_type__app_label="schoolops", codename="view_all_campuses")
        ops.user.user_permissions.add(every_campus)
        logins.append((f"{StaffRole.OPERATIONS.label} (总部 / head office)", ops.user.username, DEMO_PASSWORD))
        # Head-office finance: every campus's payouts, exports and the gateways' statements.
        hq_finance = self._staff("hq-finance", "总部王会计", StaffRole.FINANCE, ops_campus, None)
        hq_finance.user.user_permissions.add(every_campus)
        logins.append((f"{StaffRole.FINANCE.label} (总部 / head office)", hq_finance.user.username, DEMO_PASSWORD))

        courses = {
            campus.pk: [self._course(campus, spec, item, now) for item in COURSES]
            for (campus, _), spec in zip(campuses, CAMPUSES, strict=True)
        }

        self._homeroom_rules(campuses, courses)
        channels = [PaymentChannel.WECHAT, PaymentChannel.ALIPAY, PaymentChannel.CARD, PaymentChannel.OFFLINE]
        order_seq = 0
        for i in range(1, STUDENT_COUNT + 1):
            campus, staff = campuses[(i - 1) % len(campuses)]
            name = SURNAMES[(i * 7) % len(SURNAMES)] + GIVEN[i % len(GIVEN)]
            phone = f"138{i:08d}"
            student = StudentInput(
                student_no=f"S{i:06d}",
                name=name,
                phone=phone,
                email=f"student{i:03d}@demo.schoolops",
                wechat_openid=f"demo-openid-{i:03d}" if i % 2 else None,
            )
            if i <= 3:
                logins.append((f"student ({campus.name})", phone, DEMO_PASSWORD))
            picked = rng.sample(courses[campus.pk], k=1 + (i % 3))
            for course in picked:
                order_seq += 1
                channel = channels[order_seq % len(channels)]
                teacher = staff[StaffRole.HOMEROOM][i % len(staff[StaffRole.HOMEROOM])]
                self._order(rng, order_seq, student, course, channel, teacher, now)
            self._student_login(student.student_no)
        for campus, staff in campuses:
            self._refund_requests(campus, staff, now)
        tickets = sum(seed_tickets(campus, staff, now) for campus, staff in campuses)
        self.stdout.write(f"  service desk tickets: {tickets}")
        self._history(rng, campuses, courses, now)
        for (campus, staff), spec in zip(campuses, CAMPUSES, strict=True):
            self.stdout.write(seed_service(campus, spec.prefix, staff, now))
        self.stdout.write(seed_exchanges(campuses, [spec.prefix for spec in CAMPUSES], now))
        # The dashboard reads aggregates: built once here, kept by the refund events afterwards.
        rows = sum(written for _first, _last, written in facts_rebuild())
        self.stdout.write(f"  analytics facts rebuilt: {rows} rows")
        # The alert rules over the history (the nightly job looks at a week at most).
        # Over the whole history: a streak rule (the hot course, 30 days above 10%) fires on the day
        # its run reaches 30 days, which a shorter look back could miss by a day or two.
        raised = alert_rules_run(since=timezone.localdate(now) - datetime.timedelta(days=HISTORY_DAYS))
        self.stdout.write(f"  alert rules run over the last {HISTORY_DAYS} days: {raised} alerts")
        # Last week's reviews, kept in the admin (sent by Monday's beat job or the command's --send).
        week = last_week_start()
        reviews = weekly_reviews_build(week_start=week)
        self.stdout.write(f"  weekly reviews of the week of {week}: {len(reviews)}")
        return logins

    def _user(self, username: str, name: str, *, phone: str | None = None, **flags) -> User:
        user, created = User.objects.get_or_create(
            username=username, defaults={"name": name, "phone": phone, "email": f"{username}@demo.schoolops", **flags}
        )
        if created:
            # One hash for every demo account: hashing ~70 passwords one by one takes half a minute.
            user.password = self._password_hash
            user.save(update_fields=["password"])
        return user

    def _staff(self, username: str, name: str, role: str, campus: Campus, manager: Staff | None) -> Staff:
        user = self._user(username, name, is_staff=True)
        staff = Staff.objects.filter(user=user).first()
        if staff is None:
            staff = Staff.objects.create(user=user, role=role, campus=campus, manager=manager)
        return staff

    def _staff_for(
        self, campus: Campus, spec: CampusSpec, logins: list[tuple[str, str, str]]
    ) -> dict[str, list[Staff]]:
        p = spec.prefix
        head = self._staff(f"{p}-head", f"{spec.city}赵校长", StaffRole.CAMPUS_HEAD, campus, None)
        supervisor = self._staff(f"{p}-supervisor", f"{spec.city}钱主管", StaffRole.SUPERVISOR, campus, head)
        teachers = [
            self._staff(f"{p}-teacher{n}", f"{spec.city}{surname}老师", StaffRole.HOMEROOM, campus, supervisor)
            for n, surname in enumerate("孙李周", start=1)
        ]
        finance = self._staff(f"{p}-finance", f"{spec.city}李会计", StaffRole.FINANCE, campus, head)
        service = self._staff(f"{p}-service", f"{spec.city}吴客服", StaffRole.SERVICE, campus, supervisor)
        quality = self._staff(f"{p}-quality", f"{spec.city}郑质检", StaffRole.QUALITY, campus, supervisor)
        for staff in (head, supervisor, teachers[0], finance, service, quality):
            logins.append((f"{staff.get_role_display()} ({campus.name})", staff.user.username, DEMO_PASSWORD))
        return {
            StaffRole.CAMPUS_HEAD: [head],
            StaffRole.SUPERVISOR: [supervisor],
            StaffRole.HOMEROOM: teachers,
            StaffRole.FINANCE: [finance],
            StaffRole.SERVICE: [service],
            StaffRole.QUALITY: [quality],
        }

    def _course(self, campus: Campus, spec: CampusSpec, item: tuple, now: datetime.datetime) -> Course:
        suffix, name, course_type, lessons, price, start_in, length = item
        starts_at = (now + datetime.timedelta(days=start_in)).replace(hour=19)
        course, _ = Course.objects.get_or_create(
            code=f"{spec.prefix}-{suffix}",
            defaults={
                "name": name,
                "course_type": course_type,
                "campus": campus,
                "lessons": lessons,
                "price": Decimal(price),
                "starts_at": starts_at,
                "ends_at": starts_at + datetime.timedelta(days=length),
            },
        )
        return course

    def _student_login(self, student_no: str) -> None:
        """The intake makes students without a password; the demo gives them the published one."""
        user = User.objects.get(student__student_no=student_no)
        if not user.has_usable_password():
            user.password = self._password_hash
            user.save(update_fields=["password"])

    def _homeroom_rules(
        self, campuses: list[tuple[Campus, dict[str, list[Staff]]]], courses: dict[int, list[Course]]
    ) -> None:
        """One rule per campus for the orders that name no teacher: its premium class has a teacher
        of its own (the demo's orders all name theirs; orders posted later follow the rule)."""
        for campus, staff in campuses:
            premium = next(course for course in courses[campus.pk] if course.course_type == CourseType.PREMIUM)
            HomeroomAssignment.objects.get_or_create(
                campus=campus, course=premium, defaults={"teacher": staff[StaffRole.HOMEROOM][0]}
            )

    def _intake(
        self,
        *,
        prefix: str,
        seq: int,
        student: StudentInput,
        course: Course,
        channel: str,
        teacher: Staff,
        paid_at: datetime.datetime,
        at: datetime.datetime | None = None,
    ) -> Order:
        """One paid order through the order intake, as the order system would send it."""
        order_no = f"{prefix}{seq:08d}"
        trade_no = "" if channel == PaymentChannel.OFFLINE else f"{prefix}{channel.upper()}{seq:012d}"
        order = OrderInput(
            order_no=order_no,
            status="paid",
            student=student,
            course_code=course.code,
            amount_paid=course.price,
            paid_at=paid_at,
            channel=channel,
            gateway_trade_no=trade_no,
            homeroom_teacher=teacher.user.username,
        )
        orders_record(orders=[order], source="demo", at=at)
        return Order.objects.select_related("course", "student__user", "enrollment").get(order_no=order_no)

    def _order(
        self,
        rng: random.Random,
        seq: int,
        student: StudentInput,
        course: Course,
        channel: str,
        teacher: Staff,
        now: datetime.datetime,
    ) -> Order:
        order_no = f"DEMO{seq:08d}"
        existing = Order.objects.filter(order_no=order_no).first()
        if existing is not None:
            return existing
        earliest = min(course.starts_at, now) - datetime.timedelta(days=20)
        paid_at = earliest + datetime.timedelta(hours=rng.randint(0, int((now - earliest).total_seconds() // 3600)))
        # The order system sends an order about an hour after it is paid.
        order = self._intake(
            prefix="DEMO",
            seq=seq,
            student=student,
            course=course,
            channel=channel,
            teacher=teacher,
            paid_at=paid_at,
            at=min(paid_at + datetime.timedelta(hours=1), timezone.now()),
        )
        events = _learning_events(rng, order, now)
        if events:
            # Through the same service as the learning platform's endpoint, so the enrollment's
            # progress is computed exactly as in production.
            learning_events_record(events=events, source=LearningEventSource.API)
        return order

    def _refund_requests(self, campus: Campus, staff: dict[str, list[Staff]], now: datetime.datetime) -> None:
        """Refund requests in the states an approver meets, made through the real services."""
        if RefundRequest.objects.filter(campus=campus).exists():
            return
        free = Order.objects.filter(course__campus=campus, refund_requests__isnull=True).select_related(
            "course", "enrollment__homeroom_teacher", "student"
        )
        upcoming = list(free.filter(course__code__endswith="-live-next").order_by("order_no"))
        trials = list(free.filter(course__code__endswith="-trial").order_by("order_no"))
        premium = list(free.filter(course__code__endswith="-premium").order_by("order_no"))
        plans = [
            (trials, "time_conflict", "工作调动，周末没有时间上课了。", ["approve"]),
            (trials, "duplicate_purchase", "不小心重复购买了体验课。", []),
            (trials, "technical", "家里网络不好，直播总是卡顿。", ["cancel"]),
            (upcoming, "time_conflict", "开课时间和加班时间冲突，无法参加直播。", []),
            (upcoming, "time_conflict", "孩子升学，家里安排有变，暂时不学了。", ["approve"]),
            (upcoming, "content_mismatch", "课程大纲和宣传页上写的内容不一样。", []),
            (upcoming, "other", "个人原因", []),
            (upcoming, "time_conflict", "单位派我出差三个月。", ["reject"]),
            (premium, "relocation", "全家移居海外，无法继续上课。", []),
        ]
        for n, (pool, reason, details, actions) in enumerate(plans):
            if not pool:
                continue
            order = pool.pop(0)
            # Over the last four days, as requests come in: not all on one day (a spike).
            at = now - datetime.timedelta(days=n % 4, hours=len(pool) + 2)
            try:
                request = refund_submit(
                    student=order.student,
                    order_no=order.order_no,
                    reason=reason,
                    details=details,
                    at=at,
                    payee=demo_payee(order),
                )
            except RefundActionError:
                continue  # e.g. nothing refundable on this order any more
            for action in actions:
                later = at + datetime.timedelta(hours=1)
                if action == "approve":
                    refund_approve(
                        request_id=request.pk,
                        actor=order.enrollment.homeroom_teacher.user,
                        comment="情况属实，同意退费。",
                        at=later,
                    )
                elif action == "reject":
                    refund_reject(
                        request_id=request.pk,
                        actor=order.enrollment.homeroom_teacher.user,
                        reason="出差属于可调整的个人安排，建议改为下期班级。",
                        at=later,
                    )
                elif action == "cancel":
                    refund_cancel(request_id=request.pk, student=order.student, at=later)

    # --- history, for the analytics dashboard ------------------------------------------------

    def _history(
        self,
        rng: random.Random,
        campuses: list[tuple[Campus, dict[str, list[Staff]]]],
        courses: dict[int, list[Course]],
        now: datetime.datetime,
    ) -> None:
        """Five months of orders and refunds (through the real services, at past moments), so the
        dashboard's charts mean something: a steady flow, one course (北京 雅思口语直播班) refunded
        far more than the others, and one spike day of applications three weeks ago.

        Refunds are made on bank-card and offline orders only: finance records their transfers at
        a past moment, where an online payout would be sent by the worker today."""
        if Order.objects.filter(order_no__startswith="HIST").exists():
            return
        seq = 0
        for campus_index, (campus, staff) in enumerate(campuses):
            students = list(Student.objects.filter(campus=campus).select_related("user").order_by("student_no"))
            # Refunds are spread so that nobody but the one risky student has more than 3 in a
            # year (counting the open requests made before): the high-risk rule fires once.
            refunds = {
                row["student_id"]: row["n"]
                for row in RefundRequest.objects.filter(campus=campus)
                .values("student_id")
                .annotate(n=Count("pk"))
                .order_by()
            }
            risky = students[4] if campus_index == 0 else None
            sellable = [c for c in courses[campus.pk] if c.course_type != CourseType.PREMIUM]
            hot = next(c for c in sellable if c.code.endswith("-live"))
            # The hot course sells twice as much as each other course (enough orders for the rules).
            weighted = [*sellable, hot] if campus_index == 0 else sellable
            spike_day = timezone.localtime(now - datetime.timedelta(days=21))
            spike: list[Order] = []
            for days_ago in range(HISTORY_DAYS, 0, -1):
                day = now - datetime.timedelta(days=days_ago)
                for _ in range(rng.choice([0, 1, 1, 2, 2, 3])):
                    seq += 1
                    course = rng.choice(weighted)
                    is_hot = course == hot and campus_index == 0
                    # The hot course sells by card and offline: its refunds can be completed in the past.
                    channel = rng.choice(sorted(MANUAL_CHANNELS) if is_hot else list(PaymentChannel))
                    teacher = rng.choice(staff[StaffRole.HOMEROOM])
                    paid_at = day.replace(hour=rng.randint(8, 22))
                    # The hot course is refunded far more than the others (which stay under 10%).
                    asks = channel in MANUAL_CHANNELS and rng.random() < (0.7 if is_hot else 0.12)
                    eligible = [s for s in students if refunds.get(s.pk, 0) < 3 and s != risky]
                    asks = asks and bool(eligible)
                    spiked = asks and is_hot and 25 <= days_ago <= 80 and len(spike) < SPIKE_SIZE
                    student = rng.choice(eligible) if asks else rng.choice(students)
                    order = self._history_order(seq, student, course, channel, teacher, paid_at)
                    if asks:
                        refunds[student.pk] = refunds.get(student.pk, 0) + 1
                    if spiked:
                        spike.append(order)
                    elif asks:
                        at = paid_at + datetime.timedelta(days=rng.randint(1, 6), hours=rng.randint(0, 5))
                        self._history_request(rng, order, staff, at=at, now=now)
            for n, order in enumerate(spike):
                self._history_request(
                    rng,
                    order,
                    staff,
                    at=spike_day.replace(hour=8, minute=0) + datetime.timedelta(minutes=35 * n),
                    now=now,
                )
            if risky is not None:
                self._risky_student(rng, risky, hot, staff, now=now, first_seq=900000)

    def _risky_student(
        self,
        rng: random.Random,
        student: Student,
        course: Course,
        staff: dict[str, list[Staff]],
        *,
        now: datetime.datetime,
        first_seq: int,
    ) -> None:
        """One student who buys and refunds again and again: four refunds in four months, each
        approved and paid back, so the high-risk rule flags her (seed 000 §7)."""
        teacher = staff[StaffRole.HOMEROOM][0]
        for n in range(4):
            paid_at = now - datetime.timedelta(days=120 - 30 * n, hours=3)
            channel = sorted(MANUAL_CHANNELS)[n % len(MANUAL_CHANNELS)]
            order = self._history_order(first_seq + n, student, course, channel, teacher, paid_at)
            self._history_request(rng, order, staff, at=paid_at + datetime.timedelta(days=2), now=now, fate=0.9)

    def _history_order(
        self, seq: int, student: Student, course: Course, channel: str, teacher: Staff, paid_at: datetime.datetime
    ) -> Order:
        # A student already known: her details as stored (None keeps e-mail and openid as they are).
        known = StudentInput(
            student_no=student.student_no, name=student.user.name, phone=student.phone, email=None, wechat_openid=None
        )
        return self._intake(
            prefix="HIST",
            seq=seq,
            student=known,
            course=course,
            channel=channel,
            teacher=teacher,
            paid_at=paid_at,
            at=paid_at,
        )

    def _history_request(
        self,
        rng: random.Random,
        order: Order,
        staff: dict[str, list[Staff]],
        *,
        at: datetime.datetime,
        now: datetime.datetime,
        fate: float | None = None,
    ) -> None:
        """One request's life: decided tier by tier a few hours apart, then refunded, rejected (and
        sometimes appealed), cancelled, or still waiting when it is recent (``fate`` ≥ 0.3: approved)."""
        if at >= now - datetime.timedelta(hours=2):
            return
        reason, details = rng.choice(HISTORY_REASONS)
        # These reasons need proof: a (tiny) PDF stands in for the certificate.
        evidence: list[UploadedFile] = (
            [SimpleUploadedFile("证明.pdf", DEMO_PDF, content_type="application/pdf")] if reason in PROOF else []
        )
        try:
            request = refund_submit(
                student=order.student,
                order_no=order.order_no,
                reason=reason,
                details=details,
                evidence=evidence,
                at=at,
                payee=demo_payee(order),
            )
        except RefundActionError:
            return
        fate = rng.random() if fate is None else fate
        clock = at
        deciders = [person for people in staff.values() for person in people]

        def later(hours: tuple[int, int]) -> datetime.datetime | None:
            nonlocal clock
            clock = clock + datetime.timedelta(hours=rng.randint(*hours), minutes=rng.randint(0, 59))
            return clock if clock < now else None

        def decide(action) -> bool:
            """The first person allowed to decide the current tier does; False when nobody may or it is too late."""
            moment = later((2, 30))
            if moment is None:
                return False
            for person in deciders:
                try:
                    action(request.pk, person.user, moment)
                    return True
                except RefundActionError:
                    continue
            return False

        if fate < 0.10:
            moment = later((1, 20))
            if moment is not None:
                refund_cancel(request_id=request.pk, student=order.student, at=moment)
            return
        if fate < 0.30:
            if not decide(
                lambda pk, user, moment: refund_reject(request_id=pk, actor=user, reason="不符合退费条件。", at=moment)
            ):
                return
            if fate >= 0.25:
                return
            moment = later((5, 48))
            if moment is None:
                return
            try:
                refund_appeal(request_id=request.pk, student=order.student, reason="请再审核一次。", at=moment)
            except RefundActionError:
                return
        while RefundRequest.objects.filter(pk=request.pk, status__in=PENDING_STATES).exists():
            if not decide(
                lambda pk, user, moment: refund_approve(request_id=pk, actor=user, comment="同意。", at=moment)
            ):
                return
        request.refresh_from_db()
        moment = later((20, 70))
        if request.status != RefundStatus.APPROVED or moment is None:
            return
        try:
            payout_record_transfer(
                request_id=request.pk,
                actor=staff[StaffRole.FINANCE][0].user,
                bank_reference=f"HISTBK{request.pk:08d}",
                transferred_on=timezone.localdate(moment),
                at=moment,
            )
        except PayoutError:
            return

    def _provider_template_ids(self) -> None:
        """SMS and WeChat need the provider's own template ids, which a school gets when the
        provider approves its texts; the demo gives the gateway simulator made-up ones."""
        templates = NotificationTemplate.objects.filter(channel__in=["sms", "wechat"], provider_template_id="")
        for number, template in enumerate(templates.order_by("pk"), start=100001):
            prefix = "SMS_" if template.channel == "sms" else "DEMO_TEMPLATE_"
            NotificationTemplate.objects.filter(pk=template.pk).update(provider_template_id=f"{prefix}{number}")

    # --- output ---------------------------------------------------------------------------

    def _print_logins(self, logins: list[tuple[str, str, str]]) -> None:
        self.stdout.write(self.style.SUCCESS("Demo data is ready."))
        self.stdout.write(
            f"  {Campus.objects.count()} campuses, {Staff.objects.count()} staff, "
            f"{Student.objects.count()} students, {Course.objects.count()} courses, "
            f"{Order.objects.count()} orders"
        )
        self.stdout.write(f"  {RefundRequest.objects.count()} refund requests")
        self.stdout.write(f"Logins (password for all: {DEMO_PASSWORD}):")
        width = max(len(who) for who, _, _ in logins)
        for who, login, _ in logins:
            self.stdout.write(f"  {who:<{width}}  {login}")
        self.stdout.write("Students log in at /login/ with their phone; staff at /admin/ with their username.")


def _learning_events(rng: random.Random, order: Order, now: datetime.datetime) -> list[LearningEventInput]:
    """Believable learning events for an order up to this moment, as the platform would send them."""
    course = order.course
    start = max(course.starts_at, order.paid_at)
    if start > now:
        return []
    elapsed = (now - course.starts_at) / (course.ends_at - course.starts_at)
    expected = min(course.lessons, round(course.lessons * min(1.0, elapsed * 3)))
    done = max(0, min(course.lessons, round(expected * rng.uniform(0.2, 1.1))))
    span = max(now - start, datetime.timedelta(hours=done + 1))
    events: list[LearningEventInput] = []

    def add(kind: str, lesson: int | None, seconds: int = 0, rating: int | None = None) -> None:
        moment = start + span * ((lesson or done) / (done + 1)) + datetime.timedelta(minutes=rng.randint(0, 50))
        events.append(
            LearningEventInput(
                event_id=f"demo-{order.order_no}-{kind}-{lesson or 0}",
                kind=kind,
                student_no=order.student.student_no,
                order_no=order.order_no,
                lesson_no=lesson,
                seconds=seconds,
                completed=True,
                rating=rating,
                occurred_at=min(moment, now),
            )
        )

    for lesson in range(1, done + 1):
        if course.course_type in (CourseType.LIVE, CourseType.ONE_ON_ONE):
            if course.course_type == CourseType.ONE_ON_ONE or rng.random() < 0.8:
                add(LearningEventKind.LIVE_ATTENDED, lesson, rng.randint(2400, 3600))
            elif rng.random() < 0.6:
                add(LearningEventKind.LESSON_WATCHED, lesson, rng.randint(1800, 3000))  # missed; watched the replay
        else:
            add(LearningEventKind.LESSON_WATCHED, lesson, rng.randint(1200, 3000))
        if rng.random() < 0.7:
            add(LearningEventKind.HOMEWORK_SUBMITTED, lesson)
    if done >= 3:
        add(LearningEventKind.RATING, None, rating=rng.choice([3, 4, 4, 5, 5, 5]))
    return events


def demo_payee(order: Order) -> Payee:
    """The bank account a demo student names for a refund paid by hand (used only for orders paid
    by card or offline): her own name, a made-up 19-digit card."""
    return Payee(name=order.student.name, bank="中国工商银行", branch="北京海淀支行", account_no=f"6222{order.pk:015d}")
