"""The order intake: orders, their students and enrollments from the school's order system
(signed endpoint ``POST /api/orders/``, ``manage.py import_orders``, the demo seed).

The steps are the learning intake's: ``orders_parse`` (JSON) or ``order_rows_parse`` (CSV) turn
raw input into ``OrderInput``s, checking only their shape; ``orders_record`` then, in one
transaction, stores the replay nonce, locks the stored orders and students of the batch, checks
every order against the database, writes students, accounts, orders and enrollments, and
announces the news (``students.events``). Each step collects every problem with its field path
(``orders[3].student.phone``) before raising ``OrderDataError``; nothing of a bad batch is stored.

The rules:

- Orders are known by their number: an order sent again as it is stored changes nothing
  ("unchanged", no news). "paid" on a stored order matches paid, partially refunded and
  refunded: what was refunded is ours to know.
- A new order creates its student (an account with her name, phone and e-mail and no usable
  password, at the course's campus) or updates her details, then the order and its enrollment.
  The homeroom teacher is the one the order names (an active homeroom teacher of the course's
  campus), else the campus's assignment rule (``students.selectors.HomeroomChooser``).
- An order may be cancelled while it has no refund request and nothing refunded: once the
  refund process has it, it decides. A cancelled order is never paid again (a new number is).
- The amount may change, never below what was refunded; the status follows it.
- The course may change while the enrollment has no learning events and the order no refund
  request; a course at another campus gets a homeroom teacher there. The channel and the
  gateway's transaction number may change while no refund request exists (refunds go back the
  way the money came). An order never moves to another student.
"""

from __future__ import annotations

import datetime
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from orders.models import Course, Order, OrderStatus, PaymentChannel
from schoolops.models import Staff, User

from ..events import EnrollmentNews, EnrollmentNewsKind, enrollment_news_announce
from ..models import Enrollment, LearningEvent, Student
from ..selectors import HomeroomChooser, homeroom_teachers_by_username
from ..signing import ORDER_SYSTEM
from .ingestion import FieldError, IngestionDataError, RawReader, chunked, ingestion_nonce_store

logger = logging.getLogger(__name__)

COLLECTION = "orders"  # errors name fields as orders[3].student.phone
MAX_ORDERS_PER_REQUEST = 500
# What the order system says of an order.
PAID = "paid"
CANCELLED = "cancelled"
ORDER_SYSTEM_STATUSES = (PAID, CANCELLED)
# The columns of the CSV import, flat; ``order_column`` names the column of a field's path.
ORDER_COLUMNS = (
    "order_no",
    "status",
    "student_no",
    "student_name",
    "phone",
    "email",
    "wechat_openid",
    "course_code",
    "amount_paid",
    "paid_at",
    "channel",
    "gateway_trade_no",
    "referral_code",
    "homeroom_teacher",
)
REQUIRED_ORDER_COLUMNS = (
    "order_no",
    "status",
    "student_no",
    "student_name",
    "phone",
    "course_code",
    "amount_paid",
    "paid_at",
    "channel",
)
_STUDENT_COLUMNS = {
    "student_no": "student_no",
    "name": "student_name",
    "phone": "phone",
    "email": "email",
    "wechat_openid": "wechat_openid",
}
# Order and student numbers: letters, digits, and . _ - inside.
_NUMBER_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?")
_REFERRAL_RE = re.compile(r"[A-Za-z0-9_-]+")
# A mainland mobile number, in ASCII digits only (``\d`` would take any script's digits).
_PHONE_RE = re.compile(r"1[3-9][0-9]{9}")
STUDENT_USERNAME_PREFIX = "student-"
# The key of the PostgreSQL advisory lock that lets one order intake run at a time.
_INTAKE_LOCK_KEY = 0x5C400018


# Records a refusal of the order being checked: the field's path and why.
Refuse = Callable[[str, str | Promise], None]


class OrderDataError(IngestionDataError):
    """The orders cannot be stored; ``errors`` names every offending field."""


class OrderConflictError(Exception):
    """A concurrent batch wrote one of these orders or students first; nothing of this batch was
    stored. Sending the same batch again is safe."""


@dataclass(frozen=True)
class StudentInput:
    student_no: str
    name: str
    phone: str
    email: str | None  # None: keep what is stored
    wechat_openid: str | None  # None: keep what is stored


@dataclass(frozen=True)
class OrderInput:
    """One order as the order system sends it, its shape checked, not yet the database."""

    order_no: str
    status: str  # "paid" or "cancelled"
    student: StudentInput
    course_code: str
    amount_paid: Decimal
    paid_at: datetime.datetime
    channel: str
    gateway_trade_no: str
    referral_code: str = ""
    homeroom_teacher: str | None = None  # a staff username


@dataclass(frozen=True)
class IntakeResult:
    created: int
    updated: int
    unchanged: int


def student_username(student_no: str) -> str:
    """The account name of a student the intake creates (she logs in with her phone)."""
    return f"{STUDENT_USERNAME_PREFIX}{student_no}"


def order_column(path: str) -> str:
    """The CSV column of a field path (``student.phone`` -> ``phone``)."""
    if path.startswith("student."):
        return _STUDENT_COLUMNS.get(path.removeprefix("student."), path)
    return path


# --- Parsing: raw JSON or CSV values into OrderInput, no database access.


def _error(index: int | None, name: str, message: str | Promise) -> FieldError:
    return FieldError(index, name, message, COLLECTION)


def _name(reader: RawReader, name: str, *, max_length: int) -> str | None:
    value = reader.string(name, max_length=max_length)
    if value is not None and not value.strip():
        reader.error(name, _("This field is required."))
        return None
    return value.strip() if value is not None else None


def _student_parse(reader: RawReader) -> StudentInput | None:
    student = reader.nested("student")
    if student is None:
        return None
    student_no = student.string("student_no", max_length=32, pattern=_NUMBER_RE)
    name = _name(student, "name", max_length=64)
    phone = student.string("phone", max_length=11)
    if phone is not None and not _PHONE_RE.fullmatch(phone):
        student.error("phone", _("Enter a mainland mobile number of 11 digits starting with 1."))
        phone = None
    email = student.optional_string("email", max_length=254)
    if email is not None:
        email = email.strip()
        try:
            validate_email(email)
        except ValidationError:
            student.error("email", _("Enter a valid email address."))
            email = None
    wechat_openid = student.optional_string("wechat_openid", max_length=64)
    if student_no is None or name is None or phone is None:
        return None
    return StudentInput(student_no=student_no, name=name, phone=phone, email=email, wechat_openid=wechat_openid)


def _order_parse(
    raw: Any, *, index: int, textual: bool, now: datetime.datetime
) -> tuple[OrderInput | None, list[FieldError]]:
    if not isinstance(raw, Mapping):
        return None, [_error(index, "", _("Must be an object."))]
    reader = RawReader(raw, index=index, textual=textual, collection=COLLECTION)
    order_no = reader.string("order_no", max_length=32, pattern=_NUMBER_RE)
    status = reader.choice("status", ORDER_SYSTEM_STATUSES)
    student = _student_parse(reader)
    course_code = reader.string("course_code", max_length=40)
    amount_paid = reader.money("amount_paid")
    paid_at = reader.moment("paid_at", now=now)
    channel = reader.choice("channel", PaymentChannel.values)
    gateway_trade_no = reader.optional_string("gateway_trade_no", max_length=64)
    trade_no_missing = gateway_trade_no is None and reader.value("gateway_trade_no") in (None, "")
    if trade_no_missing and channel is not None and channel != PaymentChannel.OFFLINE:
        reader.error("gateway_trade_no", _("Required for every channel but offline transfer."))
    referral_code = reader.optional_string("referral_code", max_length=16, pattern=_REFERRAL_RE)
    homeroom_teacher = reader.optional_string("homeroom_teacher", max_length=150)
    if (
        reader.errors
        or order_no is None
        or status is None
        or student is None
        or course_code is None
        or amount_paid is None
        or paid_at is None
        or channel is None
    ):
        return None, reader.errors
    order = OrderInput(
        order_no=order_no,
        status=status,
        student=student,
        course_code=course_code,
        amount_paid=amount_paid,
        paid_at=paid_at,
        channel=channel,
        gateway_trade_no=gateway_trade_no or "",
        referral_code=referral_code or "",
        homeroom_teacher=homeroom_teacher,
    )
    return order, []


def _batch_errors(orders: Sequence[tuple[int, OrderInput]]) -> list[FieldError]:
    """What the orders of one batch say against each other: an order number twice, one student
    described two ways, one phone, openid or gateway transaction for two students or orders."""
    errors: list[FieldError] = []
    first_order: dict[str, int] = {}
    first_student: dict[str, tuple[int, StudentInput]] = {}
    phone_of: dict[str, tuple[int, str]] = {}
    openid_of: dict[str, tuple[int, str]] = {}
    trade_of: dict[tuple[str, str], tuple[int, str]] = {}
    for index, order in orders:
        if order.order_no in first_order:
            message = format_lazy(
                _("Order {order_no} is already in this batch at orders[{first}]."),
                order_no=order.order_no,
                first=first_order[order.order_no],
            )
            errors.append(_error(index, "order_no", message))
            continue
        first_order[order.order_no] = index
        student = order.student
        seen = first_student.setdefault(student.student_no, (index, student))
        if seen[0] != index:
            for name in ("name", "phone", "email", "wechat_openid"):
                if getattr(seen[1], name) != getattr(student, name):
                    message = format_lazy(
                        _("Student {student_no} is described differently at orders[{first}]."),
                        student_no=student.student_no,
                        first=seen[0],
                    )
                    errors.append(_error(index, f"student.{name}", message))
        for value, taken, name in (
            (student.phone, phone_of, "phone"),
            (student.wechat_openid, openid_of, "wechat_openid"),
        ):
            if value is None:
                continue
            other = taken.setdefault(value, (index, student.student_no))
            if other[1] != student.student_no:
                message = format_lazy(
                    _("Also given for student {student_no} at orders[{first}]."), student_no=other[1], first=other[0]
                )
                errors.append(_error(index, f"student.{name}", message))
        if order.gateway_trade_no:
            other = trade_of.setdefault((order.channel, order.gateway_trade_no), (index, order.order_no))
            if other[1] != order.order_no:
                message = format_lazy(
                    _("Also given for order {order_no} at orders[{first}]."), order_no=other[1], first=other[0]
                )
                errors.append(_error(index, "gateway_trade_no", message))
    return errors


def _orders_parse(raws: Iterable[Any], *, textual: bool) -> list[OrderInput]:
    now = timezone.now()
    parsed: list[tuple[int, OrderInput]] = []
    errors: list[FieldError] = []
    for index, raw in enumerate(raws):
        order, order_errors = _order_parse(raw, index=index, textual=textual, now=now)
        errors.extend(order_errors)
        if order is not None:
            parsed.append((index, order))
    errors.extend(_batch_errors(parsed))
    if errors:
        raise OrderDataError(sorted(errors, key=lambda error: error.index or 0))
    return [order for _index, order in parsed]


def orders_parse(payload: Any, *, max_orders: int = MAX_ORDERS_PER_REQUEST) -> list[OrderInput]:
    """The orders of a decoded JSON body ``{"orders": [...]}``; raises ``OrderDataError``."""
    if not isinstance(payload, Mapping):
        raise OrderDataError([_error(None, "orders", _('The body must be an object with an "orders" list.'))])
    raws = payload.get("orders")
    if not isinstance(raws, list):
        raise OrderDataError([_error(None, "orders", _("Must be a list of orders."))])
    if len(raws) > max_orders:
        message = format_lazy(_("At most {max_orders} orders per request."), max_orders=max_orders)
        raise OrderDataError([_error(None, "orders", message)])
    return _orders_parse(raws, textual=False)


def order_rows_parse(rows: Iterable[Mapping[str, str | None]]) -> list[OrderInput]:
    """The orders of CSV rows keyed by ``ORDER_COLUMNS``; an error's ``index`` is the row's position
    and its field a JSON path (``order_column`` names the column)."""
    nested = (
        {
            **{column: row.get(column) for column in ORDER_COLUMNS if column not in _STUDENT_COLUMNS.values()},
            "student": {name: row.get(column) for name, column in _STUDENT_COLUMNS.items()},
        }
        for row in rows
    )
    return _orders_parse(nested, textual=True)


# --- Checking against the database: what each order would do, or why it cannot.


@dataclass
class _StudentPlan:
    """The student of some orders: stored (``student``), or to be created at ``campus_id``."""

    data: StudentInput
    student: Student | None
    campus_id: int | None = None
    changed: bool = False


@dataclass
class _OrderPlan:
    index: int
    data: OrderInput
    course: Course
    student: _StudentPlan
    order: Order | None  # stored, locked; for a new order None until it is written
    is_new: bool = False
    status: str = OrderStatus.PAID
    teacher: Staff | None = None  # the enrollment's teacher, when new or changing
    changed_fields: list[str] = field(default_factory=list)
    teacher_changed: bool = False

    @property
    def outcome(self) -> str:
        if self.is_new:
            return "created"
        if self.changed_fields or self.teacher_changed or self.student.changed:
            return "updated"
        return "unchanged"


@dataclass
class _Plan:
    orders: list[_OrderPlan]
    students: list[_StudentPlan]

    def result(self) -> IntakeResult:
        outcomes = [order.outcome for order in self.orders]
        return IntakeResult(
            created=outcomes.count("created"), updated=outcomes.count("updated"), unchanged=outcomes.count("unchanged")
        )


def _status_for(*, requested: str, amount: Decimal, refunded: Decimal) -> str:
    """The stored status of an order the order system calls ``requested`` (paid or cancelled)."""
    if requested == CANCELLED:
        return OrderStatus.CANCELLED
    if refunded <= 0:
        return OrderStatus.PAID
    if refunded < amount:
        return OrderStatus.PARTIALLY_REFUNDED
    return OrderStatus.REFUNDED


class _Facts:
    """Everything the batch's checks read, loaded in a bounded number of queries; stored orders
    and students locked (in primary-key order, so concurrent batches cannot deadlock)."""

    def __init__(self, orders: Sequence[OrderInput]) -> None:
        self.courses: dict[str, Course] = {}
        for chunk in chunked({order.course_code for order in orders}):
            self.courses.update((c.code, c) for c in Course.objects.filter(code__in=chunk).select_related("campus"))
        self.orders: dict[str, Order] = {}
        for chunk in chunked({order.order_no for order in orders}):
            locked = (
                Order.objects.select_for_update(of=("self",))
                .filter(order_no__in=chunk)
                .select_related("course__campus", "student", "enrollment__homeroom_teacher__user")
                .order_by("pk")
            )
            self.orders.update((order.order_no, order) for order in locked)
        stored_ids = [order.pk for order in self.orders.values()]
        # Refund requests live on a floor above: counted through the relation, never imported.
        self.with_requests = set(
            Order.objects.filter(pk__in=stored_ids)
            .annotate(requests=Count("refund_requests"))
            .filter(requests__gt=0)
            .values_list("pk", flat=True)
        )
        self.with_events = set(
            LearningEvent.objects.filter(enrollment__order_id__in=stored_ids)
            .order_by()
            .values_list("enrollment__order_id", flat=True)
            .distinct()
        )
        self.students: dict[str, Student] = {}
        for chunk in chunked({order.student.student_no for order in orders}):
            locked_students = (
                Student.objects.select_for_update(of=("self",))
                .filter(student_no__in=chunk)
                .select_related("user")
                .order_by("pk")
            )
            self.students.update((student.student_no, student) for student in locked_students)
        self.phone_users: dict[str, int] = {}
        for chunk in chunked({order.student.phone for order in orders}):
            self.phone_users.update(
                (phone, pk) for phone, pk in User.objects.filter(phone__in=chunk).values_list("phone", "pk") if phone
            )
        self.openid_students: dict[str, str] = {}
        for chunk in chunked({o.student.wechat_openid for o in orders if o.student.wechat_openid}):
            self.openid_students.update(
                Student.objects.filter(wechat_openid__in=chunk).values_list("wechat_openid", "student_no")
            )
        self.usernames: set[str] = set()
        new_names = {
            student_username(o.student.student_no) for o in orders if o.student.student_no not in self.students
        }
        for chunk in chunked(new_names):
            self.usernames.update(User.objects.filter(username__in=chunk).values_list("username", flat=True))
        self.teachers = homeroom_teachers_by_username(
            usernames=(o.homeroom_teacher for o in orders if o.homeroom_teacher)
        )
        # (channel, transaction number) -> the order number it belongs to
        self.trades: dict[tuple[str, str], str] = {}
        by_channel: dict[str, set[str]] = defaultdict(set)
        for order in orders:
            if order.gateway_trade_no:
                by_channel[order.channel].add(order.gateway_trade_no)
        for channel, numbers in sorted(by_channel.items()):
            for chunk in chunked(numbers):
                self.trades.update(
                    ((channel, trade_no), order_no)
                    for trade_no, order_no in Order.objects.filter(
                        channel=channel, gateway_trade_no__in=chunk
                    ).values_list("gateway_trade_no", "order_no")
                )


def _plan(orders: Sequence[OrderInput]) -> _Plan:
    """What the batch would do; raises ``OrderDataError`` naming every order that cannot be stored.
    Runs inside the caller's transaction (it locks the stored orders and students)."""
    facts = _Facts(orders)
    errors: list[FieldError] = []
    students: dict[str, _StudentPlan] = {}
    plans: list[_OrderPlan] = []
    for index, data in enumerate(orders):
        order_errors: list[FieldError] = []

        def refuse(
            name: str, message: str | Promise, index: int = index, into: list[FieldError] = order_errors
        ) -> None:
            into.append(_error(index, name, message))

        course = facts.courses.get(data.course_code)
        if course is None:
            refuse("course_code", format_lazy(_("No course {code}."), code=data.course_code))
        student = students.get(data.student.student_no)
        if student is None:
            student = _student_plan(data.student, facts=facts, course=course, refuse=refuse)
            students[data.student.student_no] = student
        stored = facts.orders.get(data.order_no)
        trade_owner = facts.trades.get((data.channel, data.gateway_trade_no)) if data.gateway_trade_no else None
        if trade_owner is not None and trade_owner != data.order_no:
            refuse(
                "gateway_trade_no",
                format_lazy(_("This transaction number belongs to order {order_no}."), order_no=trade_owner),
            )
        if data.homeroom_teacher:
            teacher = facts.teachers.get(data.homeroom_teacher)
            if teacher is None or (course is not None and teacher.campus_id != course.campus_id):
                message = format_lazy(
                    _("{username} is not an active homeroom teacher of the course's campus."),
                    username=data.homeroom_teacher,
                )
                refuse("homeroom_teacher", message)
        if course is None or order_errors:
            errors.extend(order_errors)
            continue
        plan = _OrderPlan(index=index, data=data, course=course, student=student, order=stored, is_new=stored is None)
        if stored is None:
            plan.status = _status_for(requested=data.status, amount=data.amount_paid, refunded=Decimal("0.00"))
        else:
            _stored_order_check(plan, facts=facts, refuse=refuse)
        errors.extend(order_errors)
        plans.append(plan)
    if errors:
        raise OrderDataError(errors)
    _teachers_choose(plans, facts=facts)
    return _Plan(orders=plans, students=list(students.values()))


def _student_plan(data: StudentInput, *, facts: _Facts, course: Course | None, refuse: Refuse) -> _StudentPlan:
    stored = facts.students.get(data.student_no)
    own_user = stored.user_id if stored is not None else None
    phone_user = facts.phone_users.get(data.phone)
    if phone_user is not None and phone_user != own_user:
        refuse("student.phone", _("This phone number belongs to another account."))
    openid_owner = facts.openid_students.get(data.wechat_openid) if data.wechat_openid else None
    if openid_owner is not None and openid_owner != data.student_no:
        refuse(
            "student.wechat_openid",
            format_lazy(_("This openid belongs to student {student_no}."), student_no=openid_owner),
        )
    if stored is None:
        if student_username(data.student_no) in facts.usernames:
            message = format_lazy(
                _("An account named {username} exists already."), username=student_username(data.student_no)
            )
            refuse("student.student_no", message)
        return _StudentPlan(data=data, student=None, campus_id=course.campus_id if course is not None else None)
    user = stored.user
    changed = (
        user.name != data.name
        or user.phone != data.phone
        or (data.email is not None and user.email != data.email)
        or (data.wechat_openid is not None and stored.wechat_openid != data.wechat_openid)
    )
    return _StudentPlan(data=data, student=stored, changed=changed)


def _stored_order_check(plan: _OrderPlan, *, facts: _Facts, refuse: Refuse) -> None:
    """What may change on a stored order; fills ``plan.changed_fields`` and ``plan.status``."""
    order = plan.order
    assert order is not None  # noqa: S101 - only called for stored orders
    data = plan.data
    has_requests = order.pk in facts.with_requests
    if order.student.student_no != data.student.student_no:
        message = format_lazy(
            _("Order {order_no} belongs to student {student_no}."),
            order_no=order.order_no,
            student_no=order.student.student_no,
        )
        refuse("student.student_no", message)
    if order.status == OrderStatus.CANCELLED and data.status == PAID:
        refuse("status", _("This order was cancelled; a new payment needs a new order number."))
    if data.status == CANCELLED and order.status != OrderStatus.CANCELLED and (has_requests or order.refunded_total):
        message = format_lazy(
            _(
                "This order has refund requests or refunded money ({refunded} yuan); the refund process decides "
                "what happens to it, so it cannot be cancelled here."
            ),
            refunded=order.refunded_total,
        )
        refuse("status", message)
    if data.amount_paid != order.amount_paid and data.amount_paid < order.refunded_total:
        refuse(
            "amount_paid",
            format_lazy(_("Cannot be less than the {refunded} yuan already refunded."), refunded=order.refunded_total),
        )
    if plan.course.pk != order.course_id:
        if order.pk in facts.with_events:
            refuse("course_code", _("The course cannot change: the enrollment has learning events."))
        if has_requests:
            refuse("course_code", _("The course cannot change: the order has refund requests."))
    if has_requests:
        if data.channel != order.channel:
            refuse("channel", _("The channel cannot change: the order has refund requests."))
        if data.gateway_trade_no != order.gateway_trade_no:
            refuse("gateway_trade_no", _("The transaction number cannot change: the order has refund requests."))

    if order.status == OrderStatus.EXCHANGED:
        # A course exchange closed it here: its value moved to another order, so the order system
        # may send it again unchanged, but not cancel it or change its money or course.
        exchanged = _("This order was exchanged for another course here; it cannot change any more.")
        if data.status == CANCELLED:
            refuse("status", exchanged)
        if data.amount_paid != order.amount_paid:
            refuse("amount_paid", exchanged)
        if plan.course.pk != order.course_id:
            refuse("course_code", exchanged)
        plan.status = OrderStatus.EXCHANGED
    else:
        plan.status = _status_for(requested=data.status, amount=data.amount_paid, refunded=order.refunded_total)
    wanted = {
        "course_id": plan.course.pk,
        "amount_paid": data.amount_paid,
        "paid_at": data.paid_at,
        "channel": data.channel,
        "gateway_trade_no": data.gateway_trade_no,
        "referral_code": data.referral_code,
        "status": plan.status,
    }
    plan.changed_fields = [name for name, value in wanted.items() if getattr(order, name) != value]


def _teachers_choose(plans: list[_OrderPlan], *, facts: _Facts) -> None:
    """The homeroom teacher of every new enrollment, and of stored ones that name another teacher
    or move to another campus; raises ``OrderDataError`` where a campus has nobody to take one."""
    needing: list[_OrderPlan] = []
    for plan in plans:
        named = facts.teachers.get(plan.data.homeroom_teacher) if plan.data.homeroom_teacher else None
        current = _current_teacher(plan.order)
        if plan.order is None:
            plan.teacher = named
            if named is None:
                needing.append(plan)
        elif named is not None and (current is None or named.pk != current.pk):
            plan.teacher, plan.teacher_changed = named, True
        elif current is None or current.campus_id != plan.course.campus_id:
            needing.append(plan)
    chooser = HomeroomChooser.for_campuses(plan.course.campus_id for plan in needing)
    for plan in plans:
        if plan.teacher is not None and plan.order is None and plan.status != OrderStatus.CANCELLED:
            chooser.count(plan.teacher)
    errors: list[FieldError] = []
    for plan in needing:
        teacher = chooser.choose(plan.course, counted=plan.status != OrderStatus.CANCELLED)
        if teacher is None:
            message = format_lazy(
                _("No active homeroom teacher at {campus} to take this order; name one."), campus=plan.course.campus
            )
            errors.append(_error(plan.index, "homeroom_teacher", message))
            continue
        plan.teacher = teacher
        plan.teacher_changed = plan.order is not None
    if errors:
        raise OrderDataError(errors)


def _current_teacher(order: Order | None) -> Staff | None:
    if order is None:
        return None
    try:
        return order.enrollment.homeroom_teacher
    except Enrollment.DoesNotExist:
        return None


# --- Recording


def orders_record(
    *, orders: Sequence[OrderInput], source: str, nonce: str | None = None, at: datetime.datetime | None = None
) -> IntakeResult:
    """Create or update the orders, their students and enrollments, all or nothing.

    ``source`` names where they came from in the rows' history ("api", "csv", "demo"); ``nonce``
    (the signed endpoint's request signature) is stored in the same transaction, and one seen
    before raises ``IngestionReplayError``; ``at`` is when the intake records them (now). Raises
    ``OrderDataError`` naming every bad field, ``OrderConflictError`` when a concurrent batch
    wrote one of these orders or students first (send again).
    """
    now = at or timezone.now()
    try:
        with transaction.atomic():
            _intake_lock()
            if nonce is not None:
                ingestion_nonce_store(signature=nonce, sender=ORDER_SYSTEM)
            plan = _plan(orders)
            result = plan.result()
            news = _apply(plan, source=source, at=now)
            enrollment_news_announce(news)
    except IntegrityError as exc:
        raise OrderConflictError from exc
    logger.info(
        "Recorded orders from %s: %d created, %d updated, %d unchanged",
        source,
        result.created,
        result.updated,
        result.unchanged,
    )
    return result


def orders_preview(*, orders: Sequence[OrderInput]) -> IntakeResult:
    """What ``orders_record`` would do, without writing (for a dry run)."""
    with transaction.atomic():
        _intake_lock()
        return _plan(orders).result()


def _intake_lock() -> None:
    """Wait for any other order intake to finish (until the end of the caller's transaction).

    A batch's checks read orders, students, phones and account names one query after another;
    another batch committing between two of them would make them disagree (a new student not
    found by her number, then her phone found on "another account"). PostgreSQL's transaction
    advisory lock serialises the intakes; SQLite has one writer at a time anyway.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_INTAKE_LOCK_KEY])


def _apply(plan: _Plan, *, source: str, at: datetime.datetime) -> list[EnrollmentNews]:
    """Write what ``plan`` decided; the news of the enrollments it made, changed or cancelled."""
    reason = f"order intake ({source})"
    _students_write(plan.students, reason=reason)
    new_orders = [p for p in plan.orders if p.is_new]
    created = bulk_create_with_history(
        [
            Order(
                order_no=p.data.order_no,
                student=p.student.student,
                course=p.course,
                amount_paid=p.data.amount_paid,
                paid_at=p.data.paid_at,
                channel=p.data.channel,
                gateway_trade_no=p.data.gateway_trade_no,
                referral_code=p.data.referral_code,
                status=p.status,
            )
            for p in new_orders
        ],
        Order,
        default_change_reason=reason,
    )
    for p, order in zip(new_orders, created, strict=True):
        p.order = order
    enrollments = bulk_create_with_history(
        [Enrollment(order=p.order, homeroom_teacher=p.teacher) for p in new_orders],
        Enrollment,
        default_change_reason=reason,
    )
    news = [
        EnrollmentNews(enrollment.pk, EnrollmentNewsKind.PAID, p.data.referral_code, at)
        for p, enrollment in zip(new_orders, enrollments, strict=True)
        if p.status == OrderStatus.PAID
    ]

    changed = [p for p in plan.orders if not p.is_new and (p.changed_fields or p.teacher_changed)]
    orders_changed = [p for p in changed if p.changed_fields]
    for p in orders_changed:
        assert p.order is not None  # noqa: S101 - stored orders
        p.order.course = p.course
        p.order.amount_paid = p.data.amount_paid
        p.order.paid_at = p.data.paid_at
        p.order.channel = p.data.channel
        p.order.gateway_trade_no = p.data.gateway_trade_no
        p.order.referral_code = p.data.referral_code
        p.order.status = p.status
    if orders_changed:
        fields = sorted({name.removesuffix("_id") for p in orders_changed for name in p.changed_fields})
        bulk_update_with_history([p.order for p in orders_changed], Order, fields=fields, default_change_reason=reason)
    teachers_changed = [p for p in changed if p.teacher_changed]
    enrollments_changed = []
    for p in teachers_changed:
        assert p.order is not None and p.teacher is not None  # noqa: S101 - set by _teachers_choose
        enrollment = p.order.enrollment
        enrollment.homeroom_teacher = p.teacher
        enrollments_changed.append(enrollment)
    if enrollments_changed:
        bulk_update_with_history(
            enrollments_changed,
            Enrollment,
            fields=["homeroom_teacher"],
            default_change_reason=reason,
        )
    for p in changed:
        assert p.order is not None  # noqa: S101 - stored orders
        cancelled = "status" in p.changed_fields and p.status == OrderStatus.CANCELLED
        kind = EnrollmentNewsKind.CANCELLED if cancelled else EnrollmentNewsKind.CHANGED
        news.append(EnrollmentNews(p.order.enrollment.pk, kind, p.data.referral_code, at))
    return news


def _new_student(plan: _StudentPlan, user: User) -> Student:
    assert plan.campus_id is not None  # noqa: S101 - a batch whose course is unknown is refused before
    return Student(
        user=user,
        student_no=plan.data.student_no,
        campus_id=plan.campus_id,
        wechat_openid=plan.data.wechat_openid or "",
    )


def _students_write(students: list[_StudentPlan], *, reason: str) -> None:
    """Create the new students with their accounts; update the details of the stored ones."""
    new = [s for s in students if s.student is None]
    users = []
    for s in new:
        user = User(
            username=student_username(s.data.student_no), name=s.data.name, phone=s.data.phone, email=s.data.email or ""
        )
        user.set_unusable_password()
        users.append(user)
    User.objects.bulk_create(users)
    created = bulk_create_with_history(
        [_new_student(s, user) for s, user in zip(new, users, strict=True)], Student, default_change_reason=reason
    )
    for s, student in zip(new, created, strict=True):
        s.student = student

    changed = [s for s in students if s.changed and s.student is not None]
    changed_users = []
    changed_students = []
    for s in changed:
        assert s.student is not None  # noqa: S101 - filtered above
        user = s.student.user
        user.name, user.phone = s.data.name, s.data.phone
        if s.data.email is not None:
            user.email = s.data.email
        changed_users.append(user)
        if s.data.wechat_openid is not None and s.student.wechat_openid != s.data.wechat_openid:
            s.student.wechat_openid = s.data.wechat_openid
            changed_students.append(s.student)
    if changed_users:
        User.objects.bulk_update(changed_users, ["name", "phone", "email"])
    if changed_students:
        bulk_update_with_history(changed_students, Student, fields=["wechat_openid"], default_change_reason=reason)
