"""Course exchange use cases: quote, submit (the student, or customer service for her), follow the
request through approval, settle the difference, complete, cancel, lapse, rate.

The request's route is the refund's (``refunds.services.exchange_request_open``); this app hears
its events in their own transaction (``exchange_on_refund_event``, a ``refund_event_writer``):

- approved with a difference to refund: the payout path pays it (payments opens the payout on
  the approval, exactly once, through the one guard); when the gateway confirms, the exchange
  completes in the payout's transaction;
- approved with nothing to move: the exchange completes at once;
- approved with a difference to pay: the student pays it online before ``pay_deadline``, or the
  exchange lapses and nothing is created;
- rejected, withdrawn, expired: the exchange ends with the request.

Completion, in one transaction: the value carried passes the one guard for money out of the old
order (``payments.services.payout_guard``, under the order's lock), the old order closes as
exchanged with its carried value in ``credited_total``, the new order and its enrollment are
created (with a homeroom teacher, and the lessons done when the courses share them), finance's
voucher moves the contract liability, and the request closes.
"""

from __future__ import annotations

import datetime
import logging
import secrets
from dataclasses import dataclass
from decimal import Decimal
from functools import partial

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from finance.vouchers import voucher_for_exchange
from orders.models import Course, Order, OrderStatus
from payments.collection_events import collection_event_writer
from payments.collections import (
    CollectionError,
    collection_close,
    collection_open,
    collection_refund_duplicate,
)
from payments.models import (
    PAYABLE_COLLECTION_STATES,
    Collection,
    CollectionEvent,
    CollectionEventKind,
    CollectionStatus,
)
from payments.services import payout_guard
from refunds.events import refund_event_writer
from refunds.models import RefundEvent, RefundEventKind, RefundReason, RefundRequest, RefundStatus, RequestKind
from refunds.services import (
    FiledForStudent,
    RefundActionError,
    RefundPolicyMissing,
    exchange_request_open,
    refund_cancel,
    refund_close_nothing_due,
    refund_quote,
    student_order_for_request,
)
from schoolops.errors import ActionRefused
from schoolops.history import history_note
from students.events import EnrollmentNews, EnrollmentNewsKind, enrollment_news_announce
from students.models import Enrollment, Student
from students.selectors import HomeroomChooser

from .calc import ExchangeNotOffered, ExchangeQuote, ExchangeTerms, SourceFacts, TargetFacts, calculate_exchange
from .models import Exchange, ExchangePolicy, ExchangeStatus
from .notices import exchange_completed_notify
from .selectors import exchange_chain_length, exchange_policy_for, exchange_targets

logger = logging.getLogger(__name__)


class ExchangeError(ActionRefused):
    """A refused exchange action: nothing changed; ``message`` says why, for the person who tried."""


@dataclass(frozen=True)
class ExchangeOffer:
    """What the student may do with one order: the policy, the courses, or why not."""

    policy: ExchangePolicy | None
    targets: list[Course]
    refusal: str = ""


def exchange_terms(policy: ExchangePolicy) -> ExchangeTerms:
    return ExchangeTerms(
        policy_id=policy.pk,
        version=policy.version,
        name=policy.name,
        window_days=policy.window_days,
        window_anchor=policy.window_anchor,
        window_progress_ceiling=policy.window_progress_ceiling,
        allow_after_window=policy.allow_after_window,
        exchange_fee=policy.exchange_fee,
        prorate_started_target=policy.prorate_started_target,
        carry_progress=policy.carry_progress,
    )


def exchange_offer(*, order: Order, at: datetime.datetime | None = None) -> ExchangeOffer:
    """Whether ``order`` may be exchanged now, and for which courses."""
    now = at or timezone.now()
    policy = exchange_policy_for(course=order.course)
    if policy is None:
        return ExchangeOffer(None, [], _("Courses of this type cannot be exchanged."))
    if order.status not in (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED):
        return ExchangeOffer(
            policy,
            [],
            _("This order can no longer be exchanged (it is %(status)s).") % {"status": order.get_status_display()},
        )
    if exchange_chain_length(order=order) >= policy.max_exchanges:
        return ExchangeOffer(
            policy,
            [],
            _("This course was already exchanged %(count)s time(s), the most the policy allows.")
            % {"count": policy.max_exchanges},
        )
    if (
        RefundRequest.objects.filter(order=order)
        .exclude(status__in=(RefundStatus.REFUNDED, RefundStatus.REJECTED, RefundStatus.CANCELLED, RefundStatus.CLOSED))
        .exists()
    ):
        return ExchangeOffer(policy, [], _("This order has a request in progress; wait for its outcome."))
    targets = list(exchange_targets(order=order, policy=policy, at=now))
    if not targets:
        return ExchangeOffer(policy, [], _("There is no course to exchange to at the moment."))
    return ExchangeOffer(policy, targets)


def exchange_quote(
    *, order: Order, target: Course, reason: str = RefundReason.OTHER, at: datetime.datetime | None = None
) -> ExchangeQuote:
    """The calculation of exchanging ``order`` for ``target`` now; ``ExchangeError`` if not offered."""
    now = at or timezone.now()
    offer = exchange_offer(order=order, at=now)
    if offer.refusal or offer.policy is None:
        raise ExchangeError(offer.refusal, code="not_offered")
    if target.pk not in {course.pk for course in offer.targets}:
        raise ExchangeError(
            _("“%(course)s” is not among the courses this order may move to.") % {"course": target}, code="target"
        )
    try:
        refund = refund_quote(order=order, reason=reason, at=now)
    except RefundPolicyMissing as exc:
        raise ExchangeError(str(exc), code="no_policy") from exc
    source = SourceFacts(
        amount_paid=refund.amount_paid,
        refunded=refund.refunded,
        in_flight=refund.in_flight,
        units_consumed=refund.units_consumed,
        lessons=refund.lessons,
        progress_percent=refund.progress_percent,
        day_from_purchase=refund.day_from_purchase,
        day_from_start=refund.day_from_start,
        refund_total=refund.total,
        refund_needs_approver=refund.needs_approver_amount,
    )
    facts = TargetFacts(price=target.price, lessons=target.lessons, starts_at=target.starts_at, ends_at=target.ends_at)
    try:
        return calculate_exchange(terms=exchange_terms(offer.policy), source=source, target=facts, at=now)
    except ExchangeNotOffered as exc:
        raise ExchangeError(str(exc), code="not_offered") from exc


def exchange_submit(
    *,
    student: Student,
    order_no: str,
    target_code: str,
    reason: str,
    details: str = "",
    seen_refund: Decimal | None = None,
    seen_pay: Decimal | None = None,
    filed: FiledForStudent | None = None,
    at: datetime.datetime | None = None,
) -> Exchange:
    """The student (or customer service for her, ``filed``) asks to exchange one of her orders for
    ``target_code``. ``seen_refund`` / ``seen_pay``: the difference she confirmed; if the
    calculation has changed since (a lesson taken meanwhile), nothing is filed and she is asked to
    look again."""
    now = at or timezone.now()
    details = (details or "").strip()
    if reason not in RefundReason.values:
        raise ExchangeError(_("Choose a reason from the list."), code="reason")
    try:
        order = student_order_for_request(student=student, order_no=order_no)
    except RefundActionError as exc:
        raise ExchangeError(exc.message, code=exc.code) from exc
    target = Course.objects.select_related("campus").filter(code=target_code).first()
    if target is None:
        raise ExchangeError(_("Choose the new course from the list."), code="target")
    quote = exchange_quote(order=order, target=target, reason=reason, at=now)
    if (seen_refund is not None and seen_refund != quote.refund_amount) or (
        seen_pay is not None and seen_pay != quote.pay_amount
    ):
        raise ExchangeError(
            _("The calculation has changed since you looked at it; please check the new figures and confirm again."),
            code="changed",
        )
    assert quote.terms.policy_id is not None  # noqa: S101 - quotes of saved policies
    policy = ExchangePolicy.objects.get(pk=quote.terms.policy_id)
    refund_now = refund_quote(order=order, reason=reason, at=now)
    holder: list[Exchange] = []

    def attach(request: RefundRequest) -> None:
        holder.append(
            Exchange.objects.create(
                request=request,
                old_order=order,
                target_course=target,
                policy=policy,
                policy_version=quote.terms.version,
                policy_terms=quote.terms.as_dict(),
                lines=[line.as_dict() for line in quote.lines],
                method=quote.method,
                carried_value=quote.carried_value,
                target_price=quote.target_price,
                refund_amount=quote.refund_amount,
                pay_amount=quote.pay_amount,
                carried_lessons=quote.carried_lessons,
                quoted_at=now,
            )
        )

    try:
        exchange_request_open(
            order=order,
            student=student,
            reason=reason,
            details=details,
            refund_quote_now=refund_now,
            refund_amount=quote.refund_amount,
            difference=max(quote.refund_amount, quote.pay_amount),
            filed=filed,
            at=now,
            attach=attach,
        )
    except RefundActionError as exc:
        raise ExchangeError(exc.message, code=exc.code) from exc
    exchange = holder[0]
    logger.info("Exchange of %s for %s submitted (%s)", order.order_no, target.code, exchange.request.request_no)
    return exchange


# --- Following the request --------------------------------------------------------------------


@refund_event_writer(applies=lambda event: event.request.kind == RequestKind.EXCHANGE)
def exchange_on_refund_event(event: RefundEvent) -> None:
    """The exchange follows its request (in the event's transaction); only an exchange's events
    come here (a refund's cost it nothing)."""
    request = event.request
    exchange = Exchange.objects.select_for_update().filter(request_id=request.pk).first()
    if exchange is None:  # the submit's attach writes it before the first event
        return
    at = event.created_at
    if event.kind == RefundEventKind.APPROVED:
        _approved(exchange, at=at)
    elif event.kind == RefundEventKind.PAYOUT_SUCCEEDED and exchange.status == ExchangeStatus.REFUNDING:
        exchange_complete(exchange=exchange, at=at)
    elif event.kind == RefundEventKind.REJECTED:
        _end(exchange, ExchangeStatus.REJECTED, reason=str(event.payload.get("reason", "")))
    elif event.kind == RefundEventKind.CANCELLED:
        _end(exchange, ExchangeStatus.CANCELLED, reason=_("Withdrawn before approval."))
    elif event.kind == RefundEventKind.APPEALED:
        _set_status(exchange, ExchangeStatus.IN_REVIEW)
    elif event.kind == RefundEventKind.CLOSED and exchange.is_open:
        # Finance closed a difference whose payment failed, with nothing owed: the exchange ends.
        _end(exchange, ExchangeStatus.CANCELLED, reason=str(event.payload.get("reason", "")))


def _approved(exchange: Exchange, *, at: datetime.datetime) -> None:
    """The last approver said yes: refund the difference (payments has opened the payout), wait
    for the student to pay it, or complete at once when nothing moves."""
    if exchange.refund_amount > 0:
        _set_status(exchange, ExchangeStatus.REFUNDING)
    elif exchange.pay_amount > 0:
        exchange.pay_deadline = at + datetime.timedelta(hours=exchange.policy.pay_within_hours)
        _set_status(exchange, ExchangeStatus.AWAITING_PAYMENT, "pay_deadline")
    else:
        exchange_complete(exchange=exchange, at=at)


def exchanges_settle(*, now: datetime.datetime | None = None) -> int:
    """The beat's catch-up: an exchange whose writer failed on its request's event (rolled back to
    its savepoint) is moved on here from what the request says, and unpaid differences past their
    deadline lapse. Each exchange in its own transaction; the number moved."""
    now = now or timezone.now()
    moved = 0
    behind = Exchange.objects.filter(
        Q(status=ExchangeStatus.IN_REVIEW, request__status=RefundStatus.APPROVED)
        | Q(status=ExchangeStatus.REFUNDING, request__status=RefundStatus.REFUNDED)
    ).values_list("pk", flat=True)
    for pk in list(behind):
        try:
            with transaction.atomic():
                exchange = Exchange.objects.select_for_update().select_related("request").get(pk=pk)
                if exchange.status == ExchangeStatus.IN_REVIEW and exchange.request.status == RefundStatus.APPROVED:
                    _approved(exchange, at=exchange.request.decided_at or now)
                    moved += 1
                elif exchange.status == ExchangeStatus.REFUNDING and exchange.request.status == RefundStatus.REFUNDED:
                    exchange_complete(exchange=exchange, at=now)
                    moved += 1
        except ActionRefused as exc:  # e.g. the guard: the order no longer covers it; a person must look
            logger.error("Exchange %s cannot move on: %s", pk, exc.message)
    return moved + exchanges_lapse(now=now) + exchange_duplicates_refund()


def _set_status(exchange: Exchange, status: str, *fields: str) -> None:
    exchange.status = status
    history_note(exchange, user=None)
    exchange.save(update_fields=["status", *fields])


def _end(exchange: Exchange, status: str, *, reason: str) -> None:
    exchange.closed_reason = reason[:300]
    _set_status(exchange, status, "closed_reason")


def exchange_complete(
    *, exchange: Exchange, at: datetime.datetime, received: tuple[str, Decimal, str] | None = None
) -> Order:
    """The difference is settled: move the value, create the new order, book it, close the request.
    In the caller's transaction; the exchange row is locked by the caller."""
    if exchange.status == ExchangeStatus.COMPLETED:
        assert exchange.new_order is not None  # noqa: S101 - completed exchanges have their order
        return exchange.new_order
    old = Order.objects.select_related("course", "enrollment__homeroom_teacher__user").get(pk=exchange.old_order_id)
    # The value this order gives the new one: the price, less what the student pays on top.
    credit = exchange.target_price - exchange.pay_amount
    payout_guard(order_id=old.pk, amount=credit)  # the order's lock is ours from here
    old.refresh_from_db(fields=["refunded_total", "credited_total", "status"])
    old.credited_total += credit
    old.status = OrderStatus.EXCHANGED
    history_note(old, user=None, reason=f"course exchange {exchange.request.request_no}")
    old.save(update_fields=["credited_total", "status"])

    target = exchange.target_course
    new = Order(
        order_no=_new_order_no(at),
        student_id=old.student_id,
        course=target,
        amount_paid=exchange.target_price,
        carried_in=credit,
        paid_at=at,
        channel=old.channel,
        gateway_trade_no=old.gateway_trade_no,
        exchanged_from=old,
    )
    history_note(new, user=None, reason=f"course exchange {exchange.request.request_no}")
    new.save()
    old_teacher = old.enrollment.homeroom_teacher
    teacher = old_teacher if old_teacher is not None and old_teacher.campus_id == target.campus_id else None
    if teacher is None:
        teacher = HomeroomChooser.for_campuses([target.campus_id]).choose(target)
    enrollment = Enrollment(order=new, homeroom_teacher=teacher)
    if exchange.carried_lessons:
        enrollment.lessons_consumed = exchange.carried_lessons
        enrollment.lessons_watched = min(old.enrollment.lessons_watched, target.lessons)
    history_note(enrollment, user=None, reason=f"course exchange {exchange.request.request_no}")
    enrollment.save()

    exchange.new_order = new
    exchange.completed_at = at
    exchange.status = ExchangeStatus.COMPLETED
    history_note(exchange, user=None)
    exchange.save(update_fields=["new_order", "completed_at", "status"])
    voucher_for_exchange(
        request=exchange.request, old_order=old, new_order=new, credit=credit, at=at, received=received
    )
    request = RefundRequest.objects.select_for_update().get(pk=exchange.request_id)
    if request.status == RefundStatus.APPROVED:
        refund_close_nothing_due(
            request=request, actor=None, at=at, reason=_("Course exchange completed."), exchange_completed=True
        )
    exchange_completed_notify(exchange=exchange, old_order=old, new_order=new, at=at)
    enrollment_news_announce([EnrollmentNews(enrollment.pk, EnrollmentNewsKind.PAID, "", at)])
    logger.info("Exchange %s completed: %s → %s", exchange.request.request_no, old.order_no, new.order_no)
    return new


def _new_order_no(at: datetime.datetime) -> str:
    return f"HX{timezone.localtime(at):%Y%m%d}{secrets.token_hex(5).upper()}"


# --- Paying the difference ---------------------------------------------------------------------

PURPOSE = "exchange"  # the collections of exchange differences (``payments.Collection.purpose``)


def exchange_pay(
    *,
    exchange_id: int,
    student: Student,
    channel: str,
    mode: str,
    client_ip: str = "",
    return_url: str = "",
    at: datetime.datetime | None = None,
) -> Collection:
    """The student asks to pay the difference of her approved exchange by ``channel``/``mode``
    (WeChat or Alipay, QR code or in the phone's browser): a collection of exactly the difference,
    open until the exchange's deadline. She may ask again (another code, another way): only the
    first payment completes the exchange, any other is refunded by itself. The gateway is called
    outside any transaction (``collection_open``)."""
    now = at or timezone.now()
    exchange = (
        Exchange.objects.select_related("request", "target_course")
        .filter(pk=exchange_id, request__student=student)
        .first()
    )
    if exchange is None:
        raise ExchangeError(_("There is no such exchange among yours."), code="not_found")
    if exchange.status != ExchangeStatus.AWAITING_PAYMENT or exchange.pay_deadline is None:
        raise ExchangeError(
            _("This exchange is not waiting for a payment (it is %(status)s).")
            % {"status": exchange.get_status_display()},
            code="state",
        )
    if exchange.pay_deadline <= now:
        raise ExchangeError(_("The time to pay the difference has passed; the exchange has lapsed."), code="deadline")
    try:
        return collection_open(
            purpose=PURPOSE,
            purpose_id=exchange.pk,
            student=student,
            campus_id=exchange.request.campus_id,
            amount=exchange.pay_amount,
            channel=channel,
            mode=mode,
            description=_("Course exchange difference: %(course)s") % {"course": exchange.target_course.name},
            expires_at=exchange.pay_deadline,
            client_ip=client_ip,
            return_url=return_url,
            at=now,
        )
    except CollectionError as exc:
        raise ExchangeError(exc.message, code=exc.code) from exc


@collection_event_writer
def exchange_on_collection_event(event: CollectionEvent) -> None:
    """A payment of an exchange difference was confirmed (a verified notification or a query): the
    first one of the right amount completes the exchange in the payment's transaction; any other
    (a second code paid, a payment after the exchange ended) is refunded after the commit."""
    if event.kind != CollectionEventKind.PAID or event.payload.get("purpose") != PURPOSE:
        return
    collection = event.collection
    exchange = Exchange.objects.select_for_update().filter(pk=collection.purpose_id).first()
    if exchange is None:
        return
    if exchange.status == ExchangeStatus.AWAITING_PAYMENT and collection.paid_amount == exchange.pay_amount:
        exchange_complete(
            exchange=exchange,
            at=event.created_at,
            received=(collection.channel, collection.paid_amount, collection.gateway_trade_no),
        )
        for other in Collection.objects.filter(
            purpose=PURPOSE, purpose_id=exchange.pk, status__in=PAYABLE_COLLECTION_STATES
        ).exclude(pk=collection.pk):
            transaction.on_commit(partial(_close_quietly, other.pk))
        return
    reason = _("Course exchange %(request)s: a second payment of the difference, returned.") % {
        "request": exchange.request.request_no
    }
    transaction.on_commit(partial(_refund_quietly, collection.pk, reason))


def _collections_close_after_commit(exchange: Exchange) -> None:
    """The exchange ended without payment: its open codes are closed at the gateway after the commit
    (a payment that still arrives is refunded by itself)."""
    open_ids = Collection.objects.filter(
        purpose=PURPOSE, purpose_id=exchange.pk, status__in=PAYABLE_COLLECTION_STATES
    ).values_list("pk", flat=True)
    for pk in list(open_ids):
        transaction.on_commit(partial(_close_quietly, pk))


def _close_quietly(collection_id: int) -> None:
    """Close a collection no longer needed; the expiry job closes it later if the gateway is away."""
    try:
        collection_close(collection_id=collection_id)
    except Exception:
        logger.exception("Could not close collection %s now; the expiry job will.", collection_id)


def _refund_quietly(collection_id: int, reason: str) -> None:
    """Give back a payment nobody owed; a refund left unknown is settled by payments' own check."""
    try:
        collection_refund_duplicate(collection_id=collection_id, reason=reason)
    except Exception:
        logger.exception("Could not refund duplicate collection %s now; the sweep will.", collection_id)


def exchange_duplicates_refund() -> int:
    """The sweep's part for payments nobody owed: paid collections of exchanges that completed by
    another payment, or ended without one, are refunded (exactly once, by payments)."""
    refunded = 0
    paid = Collection.objects.filter(purpose=PURPOSE, status=CollectionStatus.PAID, needs_check_since__isnull=True)
    for collection in paid.order_by("pk"):
        exchange = Exchange.objects.filter(pk=collection.purpose_id).first()
        if exchange is None or exchange.status == ExchangeStatus.AWAITING_PAYMENT:
            continue
        if exchange.status == ExchangeStatus.COMPLETED and _paid_by(exchange) == collection.pk:
            continue
        _refund_quietly(collection.pk, _("A payment of an exchange difference nobody owed, returned."))
        refunded += 1
    return refunded


def _paid_by(exchange: Exchange) -> int | None:
    """The collection whose payment completed ``exchange`` (the first paid one of its amount)."""
    return (
        Collection.objects.filter(purpose=PURPOSE, purpose_id=exchange.pk, paid_amount=exchange.pay_amount)
        .exclude(paid_at__isnull=True)
        .order_by("paid_at", "pk")
        .values_list("pk", flat=True)
        .first()
    )


# --- The student's own actions and the clock ---------------------------------------------------


def exchange_cancel(*, exchange_id: int, student: Student, at: datetime.datetime | None = None) -> Exchange:
    """The student withdraws her exchange: in review (the request is withdrawn), or approved while
    the difference is not yet paid. Once money has moved it cannot be withdrawn."""
    now = at or timezone.now()
    exchange = Exchange.objects.select_related("request").filter(pk=exchange_id, request__student=student).first()
    if exchange is None:
        raise ExchangeError(_("There is no such exchange among yours."), code="not_found")
    if exchange.status == ExchangeStatus.IN_REVIEW:
        try:
            refund_cancel(request_id=exchange.request_id, student=student, at=now)
        except RefundActionError as exc:
            raise ExchangeError(exc.message, code=exc.code) from exc
        exchange.refresh_from_db()
        return exchange
    with transaction.atomic():
        locked = Exchange.objects.select_for_update().get(pk=exchange.pk)
        if locked.status != ExchangeStatus.AWAITING_PAYMENT:
            raise ExchangeError(
                _("This exchange can no longer be withdrawn (it is %(status)s).")
                % {"status": locked.get_status_display()},
                code="state",
            )
        _end(locked, ExchangeStatus.CANCELLED, reason=_("Withdrawn by the student before paying."))
        _collections_close_after_commit(locked)
        _request_close(locked, at=now, reason=_("The student withdrew the exchange before paying the difference."))
    return locked


def exchanges_lapse(*, now: datetime.datetime | None = None) -> int:
    """Exchanges whose difference was not paid by the deadline lapse: nothing is created, the order
    stays as it was. Each in its own transaction; the number lapsed."""
    now = now or timezone.now()
    ids = list(
        Exchange.objects.filter(status=ExchangeStatus.AWAITING_PAYMENT, pay_deadline__lt=now).values_list(
            "pk", flat=True
        )
    )
    lapsed = 0
    for pk in ids:
        with transaction.atomic():
            exchange = (
                Exchange.objects.select_for_update().filter(pk=pk, status=ExchangeStatus.AWAITING_PAYMENT).first()
            )
            if exchange is None or exchange.pay_deadline is None or exchange.pay_deadline >= now:
                continue
            _end(exchange, ExchangeStatus.LAPSED, reason=_("The difference was not paid by the deadline."))
            _collections_close_after_commit(exchange)
            _request_close(exchange, at=now, reason=_("The difference was not paid in time; the exchange lapsed."))
            lapsed += 1
    return lapsed


def _request_close(exchange: Exchange, *, at: datetime.datetime, reason: str) -> None:
    request = RefundRequest.objects.select_for_update().get(pk=exchange.request_id)
    if request.status == RefundStatus.APPROVED:
        refund_close_nothing_due(request=request, actor=None, at=at, reason=reason)


def exchange_rate(
    *, exchange_id: int, student: Student, rating: int, comment: str = "", at: datetime.datetime | None = None
) -> Exchange:
    """The student confirms the completed exchange and rates it (1-5), once (seed 004)."""
    now = at or timezone.now()
    if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
        raise ExchangeError(_("Choose a rating from 1 to 5 stars."), code="rating")
    with transaction.atomic():
        exchange = Exchange.objects.select_for_update().filter(pk=exchange_id, request__student=student).first()
        if exchange is None:
            raise ExchangeError(_("There is no such exchange among yours."), code="not_found")
        if exchange.status != ExchangeStatus.COMPLETED:
            raise ExchangeError(_("Only a completed exchange can be rated."), code="state")
        if exchange.rating is not None:
            raise ExchangeError(_("You have rated this exchange already. Thank you!"), code="rated")
        exchange.rating = rating
        exchange.rating_comment = (comment or "").strip()[:1000]
        exchange.confirmed_at = now
        history_note(exchange, user=student.user, at=now)
        exchange.save(update_fields=["rating", "rating_comment", "confirmed_at"])
    return exchange
