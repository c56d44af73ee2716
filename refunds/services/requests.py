"""The refund request's use cases: submit, approve, reject, return, resubmit, cancel, appeal,
adjust the amount, approve directly (customer service), escalate and expire.

Every function is one transaction: it locks the request, asks ``refunds.rules`` whether the
action is allowed on what the lock holds (the same rules the pages ask to choose their buttons),
moves the state through the model's django-fsm transition and writes the approval step, the
transition log row and the domain event in the same transaction (``_transition``). A refusal
raises ``RefundActionError`` with a message for the person who tried, and changes nothing.
"""

from __future__ import annotations

import datetime
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_fsm import ConcurrentTransition

from orders.models import Order
from schoolops.errors import ActionRefused
from schoolops.history import history_note
from schoolops.models import Staff, StaffRole, User
from students.models import Student

from .. import routing, rules
from ..events import refund_event_record
from ..evidence import CheckedFile, checked_files_store, evidence_check, stored_files_delete
from ..models import (
    CLOSED_STATES,
    TIER_STATUS,
    ApprovalSettings,
    ApprovalStep,
    ApprovalTier,
    ConsentChannel,
    RefundEventKind,
    RefundEvidence,
    RefundReason,
    RefundRequest,
    RefundStatus,
    RefundTransition,
    RequestKind,
    StepDecision,
)
from ..payee import Payee, payee_needed
from ..quotes import Quote
from ..rules import POOL_TIERS, TIER_ROLE, Refusal
from ..selectors import approval_settings_for, order_money_left, student_recent_refund_count
from .quoting import RefundPolicyMissing, quote_snapshot_create, refund_quote

logger = logging.getLogger(__name__)

# Reasons whose request means little without the student's own words.
REASONS_NEEDING_DETAILS = frozenset({RefundReason.OTHER, RefundReason.QUALITY, RefundReason.CONTENT_MISMATCH})
MIN_DETAILS_LENGTH = 10


class RefundActionError(ActionRefused):
    """A refused action: nothing was changed. ``message`` says why, for the person who tried."""


def _refused(refusal: Refusal) -> RefundActionError:
    """The error of a rule's refusal (``refunds.rules``)."""
    return RefundActionError(refusal.message, code=refusal.code)


def _refuse_if(refusal: Refusal | None) -> None:
    """Raise the refusal of a rule, if there is one."""
    if refusal is not None:
        raise _refused(refusal)


@dataclass(frozen=True)
class AutoCheckResult:
    passed: bool
    findings: list[str]


# --- Submit -----------------------------------------------------------------------------------


def refund_submit(
    *,
    student: Student,
    order_no: str,
    reason: str,
    details: str = "",
    evidence: list[UploadedFile] | None = None,
    at: datetime.datetime | None = None,
    filed: FiledForStudent | None = None,
    payee: Payee | None = None,
) -> RefundRequest:
    """The student asks for her money back on one of her orders (``filed``: customer service asks
    for her, with her consent; see ``refund_submit_for_student``). An order paid by bank card or
    offline is refunded by a transfer to the account she names (``payee``); without one, customer
    service's filing leaves it for finance to enter, the student's own application is refused."""
    now = at or timezone.now()
    details = (details or "").strip()
    if reason not in RefundReason.values:
        raise RefundActionError(_("Choose a reason from the list."), code="reason")
    order = student_order_for_request(student=student, order_no=order_no)
    _refuse_if(rules.order_refusal(order))
    if RefundRequest.objects.filter(order=order).exclude(status__in=CLOSED_STATES).exists():
        raise RefundActionError(_("This order already has a refund request in progress."), code="open_request")
    if payee is None and filed is None and payee_needed(order):
        raise RefundActionError(
            _("This order was paid by %(channel)s: give the bank account the refund should go to.")
            % {"channel": order.get_channel_display()},
            code="payee",
        )
    try:
        quote = refund_quote(order=order, reason=reason, at=now)
    except RefundPolicyMissing as exc:
        raise RefundActionError(str(exc), code="no_policy") from exc
    _refuse_if(rules.apply_refusal(quote))
    limit = rules.quote_limit(quote)
    files = evidence or []
    if quote.evidence_required and not files:
        raise RefundActionError(
            _("This reason needs evidence: %(evidence)s") % {"evidence": quote.evidence_required}, code="evidence"
        )
    try:
        checked = evidence_check(files)
    except ValidationError as exc:
        raise RefundActionError(" ".join(exc.messages), code="evidence") from exc

    settings = approval_settings_for(campus=order.course.campus_id)
    flags = _risk_flags(student=student, settings=settings, now=now)
    route = routing.route_for(
        amount=limit,
        reason=reason,
        small_below=settings.small_below,
        large_above=settings.large_above,
        needs_person=bool(flags),
    )
    request = _request_open(
        order=order,
        student=student,
        kind=RequestKind.REFUND,
        reason=reason,
        details=details,
        quote=quote,
        amount=quote.total,
        route=route,
        flags=flags,
        filed=filed,
        files=checked,
        settings=settings,
        at=now,
        payee=payee if payee_needed(order) else None,
    )
    logger.info("Refund %s submitted for order %s, route %s", request.request_no, order.order_no, route)
    return request


def student_order_for_request(*, student: Student, order_no: str) -> Order:
    """The order ``order_no`` of ``student`` that a request (refund or exchange) is about, with its
    course, campus and enrollment; ``RefundActionError`` when she has no such order or it has no
    enrollment yet."""
    order = (
        Order.objects.select_related("course__campus", "enrollment__homeroom_teacher__manager")
        .filter(student=student, order_no=order_no)
        .first()
    )
    if order is None:
        raise RefundActionError(
            _("There is no order %(order_no)s among your orders.") % {"order_no": order_no}, code="not_found"
        )
    if not hasattr(order, "enrollment"):
        raise RefundActionError(
            _("Order %(order_no)s has no enrollment yet; please contact the service desk.") % {"order_no": order_no},
            code="no_enrollment",
        )
    return order


def _request_open(
    *,
    order: Order,
    student: Student,
    kind: str,
    reason: str,
    details: str,
    quote: Quote,
    amount: Decimal,
    route: list[str],
    flags: list[str],
    filed: FiledForStudent | None,
    files: list[Any],
    settings: ApprovalSettings,
    at: datetime.datetime,
    attach: Callable[[RefundRequest], None] | None = None,
    payee: Payee | None = None,
) -> RefundRequest:
    """Save a new request of ``kind`` on ``order`` in one transaction: the quote's snapshot, the
    evidence, the log row and the submitted event, then its first step (or straight back to the
    student when incomplete). ``attach(request)`` writes the caller's own rows (an exchange's)
    before the event, so the event's writers can read them. The order is locked: the order
    system cancels an order only while it has no request, under this lock."""
    submitter = filed.by if filed is not None else student.user
    saved_files: list[str] = []
    try:
        with transaction.atomic():
            locked = Order.objects.select_for_update().only("status", "order_no").get(pk=order.pk)
            _refuse_if(rules.order_refusal(locked))
            snapshot = quote_snapshot_create(quote=quote)
            request = RefundRequest(
                request_no=_new_request_no(at, kind=kind),
                kind=kind,
                order=order,
                student=student,
                campus_id=order.course.campus_id,
                status=TIER_STATUS[route[0]],
                reason=reason,
                details=details,
                quote=snapshot,
                requested_amount=amount,
                approved_amount=amount,
                # An exchange's value is set by its own calculation, never by an approver.
                amount_confirmed=kind == RequestKind.EXCHANGE,
                route=route,
                route_position=0,
                risk_flags=flags,
                submitted_at=at,
            )
            if payee is not None:
                request.payee_name, request.payee_bank = payee.name, payee.bank
                request.payee_branch, request.payee_account_no = payee.branch, payee.account_no
            if filed is not None:
                request.filed_by = filed.by
                request.consent_channel = filed.consent_channel
                request.consent_at = filed.consent_at
                request.consent_note = filed.consent_note
            history_note(request, user=submitter, at=at)
            try:
                with transaction.atomic():
                    request.save()
            except IntegrityError as exc:
                if RefundRequest.objects.filter(order=order).exclude(status__in=CLOSED_STATES).exists():
                    raise RefundActionError(
                        _("This order already has a refund request in progress."), code="open_request"
                    ) from exc
                raise
            checked_files_store(files, row=partial(RefundEvidence, request=request), saved=saved_files)
            if attach is not None:
                attach(request)
            _transition_log(request, name="submit", actor=submitter, from_status="", comment=details, at=at)
            refund_event_record(
                request=request,
                kind=RefundEventKind.SUBMITTED,
                actor=submitter,
                at=at,
                amount=request.approved_amount,
                route=route,
            )
            _step_open_or_return(request, settings=settings, at=at)
    except BaseException:
        stored_files_delete(saved_files)
        raise
    return request


def exchange_request_open(
    *,
    order: Order,
    student: Student,
    reason: str,
    details: str,
    refund_quote_now: Quote,
    refund_amount: Decimal,
    difference: Decimal,
    filed: FiledForStudent | None,
    at: datetime.datetime,
    attach: Callable[[RefundRequest], None],
) -> RefundRequest:
    """A course exchange enters the approval route (``exchanges`` calls this with its calculation).

    The request carries what a refund would have given now (``refund_quote_now``, kept as the
    snapshot: the refund the exchange replaces) and ``refund_amount``, the difference the exchange
    pays back (0 when the new course costs as much or more). Its route: customer service, the
    teaching supervisor, and the campus head when ``difference`` (to refund or to pay) is above
    the campus's ``exchange_head_above``."""
    if RefundRequest.objects.filter(order=order).exclude(status__in=CLOSED_STATES).exists():
        raise RefundActionError(_("This order already has a refund request in progress."), code="open_request")
    settings = approval_settings_for(campus=order.course.campus_id)
    route = routing.route_for_exchange(difference=difference, head_above=settings.exchange_head_above)
    return _request_open(
        order=order,
        student=student,
        kind=RequestKind.EXCHANGE,
        reason=reason,
        details=details,
        quote=refund_quote_now,
        amount=refund_amount,
        route=route,
        flags=_risk_flags(student=student, settings=settings, now=at),
        filed=filed,
        files=[],
        settings=settings,
        at=at,
        attach=attach,
    )


@dataclass(frozen=True)
class FiledForStudent:
    """Customer service files the request; the student agreed (how, when, the record of it)."""

    by: User
    consent_channel: str
    consent_at: datetime.datetime
    consent_note: str = ""


CONSENT_MAX_AGE = datetime.timedelta(days=7)


def refund_submit_for_student(
    *,
    actor: User,
    student_id: int,
    order_no: str,
    reason: str,
    details: str = "",
    consent_channel: str,
    consent_at: datetime.datetime | None,
    consent_note: str = "",
    evidence: list[UploadedFile] | None = None,
    at: datetime.datetime | None = None,
) -> RefundRequest:
    """The refund desk: customer service files a request for a student of its campus who asked
    for it (on the phone, on WeChat, in person or in writing), with her consent recorded. The
    request then takes its route like any other (customer service may approve it directly when it
    is within the campus's limit); the student is told it was filed."""
    now = at or timezone.now()
    student, filed = filed_for_student(
        actor=actor,
        student_id=student_id,
        consent_channel=consent_channel,
        consent_at=consent_at,
        consent_note=consent_note,
        now=now,
    )
    return refund_submit(
        student=student, order_no=order_no, reason=reason, details=details, evidence=evidence, at=now, filed=filed
    )


def filed_for_student(
    *,
    actor: User,
    student_id: int,
    consent_channel: str,
    consent_at: datetime.datetime | None,
    consent_note: str = "",
    now: datetime.datetime,
) -> tuple[Student, FiledForStudent]:
    """Who may file an after-sale request for a student, and with what consent: customer service,
    for a student of its own campus, who agreed (how, and within ``CONSENT_MAX_AGE``, not in the
    future). The refund desk and the exchange desk (``exchanges``) both ask it before filing;
    ``RefundActionError`` (codes ``forbidden``, ``student``, ``consent_channel``, ``consent_at``)
    when not. Writes nothing."""
    staff = _staff_of(actor)
    if staff.role != StaffRole.SERVICE:
        raise RefundActionError(_("Only customer service may file a request for a student."), code="forbidden")
    student = Student.objects.select_related("user").filter(pk=student_id, campus_id=staff.campus_id).first()
    if student is None:
        raise RefundActionError(_("No such student at your campus."), code="student")
    if consent_channel not in ConsentChannel.values:
        raise RefundActionError(_("Record how the student agreed to this request."), code="consent_channel")
    if consent_at is None or consent_at > now + datetime.timedelta(minutes=5):
        raise RefundActionError(_("Record when the student agreed (not in the future)."), code="consent_at")
    if consent_at < now - CONSENT_MAX_AGE:
        raise RefundActionError(
            _("Her consent is older than %(days)d days: ask her again before filing.") % {"days": CONSENT_MAX_AGE.days},
            code="consent_at",
        )
    filed = FiledForStudent(
        by=actor,
        consent_channel=consent_channel,
        consent_at=consent_at,
        consent_note=(consent_note or "").strip()[:300],
    )
    return student, filed


def _new_request_no(now: datetime.datetime, *, kind: str = "refund") -> str:
    prefix = "EX" if kind == RequestKind.EXCHANGE else "RF"
    return f"{prefix}{timezone.localtime(now):%Y%m%d}{secrets.randbelow(10**8):08d}"


def _risk_flags(*, student: Student, settings: ApprovalSettings, now: datetime.datetime) -> list[str]:
    """Why a person must look at this student's request, if anything."""
    flags = []
    if student.high_risk:
        flags.append(_("The student is flagged high-risk: %(note)s") % {"note": student.high_risk_note or "-"})
    count = student_recent_refund_count(student_id=student.pk, now=now)
    if count > settings.risk_refunds_per_year:
        flags.append(_("Refunds in the last 12 months: %(count)d.") % {"count": count})
    return flags


def _initial_review(request: RefundRequest) -> list[str]:
    """What an application lacks to be reviewed (seed 004: incomplete ones go straight back)."""
    missing = []
    if request.reason in REASONS_NEEDING_DETAILS and len(request.details) < MIN_DETAILS_LENGTH:
        missing.append(
            _("Please describe what happened in at least %(n)d characters (reason: %(reason)s).")
            % {"n": MIN_DETAILS_LENGTH, "reason": request.get_reason_display()}
        )
    return missing


def _step_open_or_return(request: RefundRequest, *, settings: ApprovalSettings, at: datetime.datetime) -> None:
    """Put the request in front of its approver, or straight back to the student if incomplete."""
    missing = _initial_review(request)
    if missing:
        _system_return(request, missing=missing, at=at)
    else:
        _step_open(request, settings=settings, at=at)


def _system_return(request: RefundRequest, *, missing: list[str], at: datetime.datetime) -> None:
    """The initial review returns an incomplete application; no approver has seen it."""
    request.returned_tier = request.route[request.route_position]
    _transition(
        request,
        request.return_for_info,
        name="auto_return",
        actor=None,
        at=at,
        comment=" ".join(missing),
        event=RefundEventKind.RETURNED,
        missing=missing,
    )


# --- Decisions by staff -----------------------------------------------------------------------


def refund_approve(
    *, request_id: int, actor: User, comment: str = "", at: datetime.datetime | None = None
) -> RefundRequest:
    """Approve the current tier: on to the next tier of the route, or to approved after the last."""
    with transaction.atomic():
        request, step, staff, as_delegate = _lock_for_decision(request_id=request_id, actor=actor, at=at)
        now = at or timezone.now()  # once the lock is ours: after any change we waited for
        if rules.is_last_person(request):
            _refuse_if(rules.final_approval_refusal(request, order_left=_order_left(request)))
        _step_close(step, decision=StepDecision.APPROVED, by=staff, delegate=as_delegate, comment=comment, at=now)
        opened = _advance(request, position=request.route_position + 1, actor=actor, comment=comment, at=now)
        if opened is not None:
            # The student hears that one tier passed it and who decides next, by when (the
            # approver of the next tier hears it through ``assigned``).
            refund_event_record(
                request=request,
                kind=RefundEventKind.ADVANCED,
                actor=actor,
                at=now,
                passed_tier=step.tier,
                next_tier=opened.tier,
                due_at=opened.due_at,
            )
    return request


def refund_reject(*, request_id: int, actor: User, reason: str, at: datetime.datetime | None = None) -> RefundRequest:
    """Refuse the request at the current tier; the reason is required and told to the student."""
    reason = (reason or "").strip()
    if not reason:
        raise RefundActionError(_("Give the reason for the rejection; the student will read it."), code="comment")
    with transaction.atomic():
        request, step, staff, as_delegate = _lock_for_decision(request_id=request_id, actor=actor, at=at)
        now = at or timezone.now()  # once the lock is ours: after any change we waited for
        _step_close(step, decision=StepDecision.REJECTED, by=staff, delegate=as_delegate, comment=reason, at=now)
        request.rejected_tier = step.tier
        request.decided_at = now
        _transition(request, request.reject, name="reject", actor=actor, at=now, comment=reason)
        # The event names the appeal deadline, which only the rejected request has.
        settings = approval_settings_for(campus=request.campus_id)
        refund_event_record(
            request=request,
            kind=RefundEventKind.REJECTED,
            actor=actor,
            at=now,
            reason=reason,
            appeal_until=rules.appeal_deadline(request, settings=settings),
        )
    return request


def refund_return_for_info(
    *, request_id: int, actor: User, missing: str, at: datetime.datetime | None = None
) -> RefundRequest:
    """Send the request back to the student, saying what is missing."""
    missing = (missing or "").strip()
    if not missing:
        raise RefundActionError(_("Say what is missing; the student will read it."), code="comment")
    with transaction.atomic():
        request, step, staff, as_delegate = _lock_for_decision(request_id=request_id, actor=actor, at=at)
        now = at or timezone.now()  # once the lock is ours: after any change we waited for
        _step_close(step, decision=StepDecision.RETURNED, by=staff, delegate=as_delegate, comment=missing, at=now)
        request.returned_tier = step.tier
        _transition(
            request,
            request.return_for_info,
            name="return",
            actor=actor,
            at=now,
            comment=missing,
            event=RefundEventKind.RETURNED,
            missing=[missing],
        )
    return request


def refund_adjust_amount(
    *, request_id: int, actor: User, amount: Decimal, reason: str, at: datetime.datetime | None = None
) -> RefundRequest:
    """An approver of the current tier sets the amount (0..refundable), with a reason.

    Raising it past a threshold adds the tiers the larger amount needs to the route.
    """
    reason = (reason or "").strip()
    if not reason:
        raise RefundActionError(_("Give the reason for the new amount."), code="comment")
    try:
        amount = Decimal(amount).quantize(Decimal("0.01"))
    except (ArithmeticError, TypeError, ValueError) as exc:
        raise RefundActionError(_("Enter the amount in yuan, e.g. 1200.00."), code="amount") from exc
    if not amount.is_finite():  # NaN survives quantize and cannot be compared
        raise RefundActionError(_("Enter the amount in yuan, e.g. 1200.00."), code="amount")
    with transaction.atomic():
        request, _step, _staff, _as_delegate = _lock_for_decision(request_id=request_id, actor=actor, at=at)
        now = at or timezone.now()  # once the lock is ours: after any change we waited for
        _refuse_if(rules.amount_fixed_refusal(request))
        limit = rules.adjust_limit(request, order_left=_order_left(request))
        _refuse_if(rules.adjust_amount_refusal(amount, limit=limit))
        previous = request.approved_amount
        request.approved_amount = amount
        request.amount_confirmed = True
        settings = approval_settings_for(campus=request.campus_id)
        wanted = routing.route_for(
            amount=amount,
            reason=request.reason,
            small_below=settings.small_below,
            large_above=settings.large_above,
            needs_person=bool(request.risk_flags),
        )
        request.route = routing.route_extend(route=request.route, position=request.route_position, wanted=wanted)
        _transition(
            request,
            None,  # the state stays; the log and the event record the new amount
            name="adjust_amount",
            actor=actor,
            at=now,
            comment=_("Amount %(old)s → %(new)s yuan: %(reason)s") % {"old": previous, "new": amount, "reason": reason},
            event=RefundEventKind.AMOUNT_ADJUSTED,
            old_amount=previous,
            amount=amount,
            reason=reason,
            route=request.route,
        )
    return request


def refund_approve_directly(
    *, request_id: int, actor: User, comment: str = "", at: datetime.datetime | None = None
) -> RefundRequest:
    """Customer service approves a small request outright, within the campus's authorised limit."""
    staff = _staff_of(actor)
    if staff.role != StaffRole.SERVICE:
        raise RefundActionError(_("Only customer service may approve a request directly."), code="forbidden")
    with transaction.atomic():
        request = _lock(request_id, campus_id=staff.campus_id)
        now = at or timezone.now()  # once the lock is ours: after any change we waited for
        settings = approval_settings_for(campus=request.campus_id)
        _refuse_if(rules.direct_approval_refusal(request=request, staff=staff, service_limit=settings.service_limit))
        _refuse_if(rules.separation_refusal(request=request, staff=staff, decisions=_decisions_of(request, staff)))
        _refuse_if(rules.final_approval_refusal(request, order_left=_order_left(request)))
        step = _pending_step(request)
        note = comment or _("Approved directly by customer service.")
        _step_close(step, decision=StepDecision.APPROVED, by=staff, delegate=False, comment=note, at=now)
        _advance(request, position=len(request.route), actor=actor, comment=note, at=now, name="approve_directly")
    return request


# --- The student's own actions ----------------------------------------------------------------


def refund_cancel(*, request_id: int, student: Student, at: datetime.datetime | None = None) -> RefundRequest:
    """The student withdraws her request while it is not yet approved."""
    with transaction.atomic():
        request = _lock_for_student(request_id=request_id, student=student)
        now = at or timezone.now()  # once the lock is ours: after any change we waited for
        _refuse_if(rules.cancel_refusal(request))
        step = _pending_step_or_none(request)
        if step is not None:
            _step_close(step, decision=StepDecision.CANCELLED, by=None, delegate=False, comment="", at=now)
        request.decided_at = now
        _transition(request, request.cancel, name="cancel", actor=student.user, at=now, event=RefundEventKind.CANCELLED)
    return request


def refund_resubmit(
    *,
    request_id: int,
    student: Student,
    details: str = "",
    evidence: list[UploadedFile] | None = None,
    at: datetime.datetime | None = None,
) -> RefundRequest:
    """The student supplies what was missing: the request goes back to the tier that asked."""
    details = (details or "").strip()
    files = evidence or []
    saved_files: list[str] = []
    try:
        with transaction.atomic():
            request = _lock_for_student(request_id=request_id, student=student)
            now = at or timezone.now()  # once the lock is ours: after any change we waited for
            _refuse_if(rules.resubmit_refusal(request))
            if not details and not files:
                raise RefundActionError(_("Add the missing information or a file."), code="empty")
            try:
                checked = evidence_check(files, already=request.evidence.count())
            except ValidationError as exc:
                raise RefundActionError(" ".join(exc.messages), code="evidence") from exc
            if details:
                request.details = f"{request.details}\n\n{details}".strip()
            checked_files_store(checked, row=partial(RefundEvidence, request=request), saved=saved_files)
            tier = request.route[request.route_position]
            _transition(
                request,
                partial(request.resubmit, TIER_STATUS[tier]),
                name="resubmit",
                actor=student.user,
                at=now,
                comment=details,
                event=RefundEventKind.RESUBMITTED,
                files=len(checked),
            )
            _step_open_or_return(request, settings=approval_settings_for(campus=request.campus_id), at=now)
    except BaseException:
        stored_files_delete(saved_files)
        raise
    return request


def refund_appeal(
    *,
    request_id: int,
    student: Student,
    reason: str,
    evidence: list[UploadedFile] | None = None,
    at: datetime.datetime | None = None,
) -> RefundRequest:
    """The student appeals a rejection, once, within the campus's appeal window, with files if she
    has them (kept as the appeal's evidence, checked like the application's: all or nothing)."""
    reason = (reason or "").strip()
    if not reason:
        raise RefundActionError(_("Tell us why you disagree with the decision."), code="comment")
    try:
        checked = evidence_check(evidence or [])  # the appeal's own files: up to the limit again
    except ValidationError as exc:
        raise RefundActionError(" ".join(exc.messages), code="evidence") from exc
    saved_files: list[str] = []
    try:
        return _appeal(request_id=request_id, student=student, reason=reason, checked=checked, saved=saved_files, at=at)
    except BaseException:
        stored_files_delete(saved_files)
        raise


def _appeal(
    *,
    request_id: int,
    student: Student,
    reason: str,
    checked: list[CheckedFile],
    saved: list[str],
    at: datetime.datetime | None,
) -> RefundRequest:
    with transaction.atomic():
        request = _lock_for_student(request_id=request_id, student=student)
        now = at or timezone.now()  # once the lock is ours: after any change we waited for
        settings = approval_settings_for(campus=request.campus_id)
        _refuse_if(rules.appeal_refusal(request, settings=settings, now=now))
        quote = _appeal_quote(request)
        route, position = routing.route_for_appeal(route=request.route, position=request.route_position)
        request.quote = quote_snapshot_create(quote=quote)
        request.approved_amount = quote.total
        request.amount_confirmed = False
        request.route = route
        request.route_position = position
        request.appealed_at = now
        request.appeal_reason = reason
        request.decided_at = None
        try:
            with transaction.atomic():
                _transition(
                    request,
                    partial(request.appeal, TIER_STATUS[route[position]]),
                    name="appeal",
                    actor=student.user,
                    at=now,
                    comment=reason,
                    event=RefundEventKind.APPEALED,
                    reason=reason,
                    files=len(checked),
                )
        except IntegrityError as exc:
            raise RefundActionError(
                _("This order has another refund request in progress; it cannot be appealed now."),
                code="open_request",
            ) from exc
        checked_files_store(checked, row=partial(RefundEvidence, request=request, for_appeal=True), saved=saved)
        _step_open(request, settings=settings, at=now)
    return request


def _appeal_quote(request: RefundRequest) -> Quote:
    """The appeal is quoted again against the order as it is today (what other requests refunded
    meanwhile, what is on its way), its windows and tiers counted from the day she first asked.
    Refused when nothing is left to refund."""
    order = Order.objects.select_related("course__campus", "enrollment").get(pk=request.order_id)
    _refuse_if(rules.order_refusal(order))
    try:
        quote = refund_quote(order=order, reason=request.reason, at=request.submitted_at)
    except RefundPolicyMissing as exc:
        raise RefundActionError(str(exc), code="no_policy") from exc
    if rules.apply_refusal(quote) is not None:
        raise RefundActionError(
            _(
                "Nothing is left to refund on order %(order)s: of %(paid)s paid, %(refunded)s has already been "
                "refunded and %(flight)s is on its way back, so this request cannot be appealed."
            )
            % {
                "order": order.order_no,
                "paid": order.amount_paid,
                "refunded": order.refunded_total,
                "flight": quote.in_flight,
            },
            code="nothing_refundable",
        )
    return quote


# --- Payout transitions: payments tells the request what became of its money -----------------
# Each runs in the caller's transaction, on a request the caller has locked.


def refund_mark_paying(*, request: RefundRequest, actor: User | None, at: datetime.datetime, comment: str = "") -> None:
    """A payout was handed to the gateway, or finance is recording a transfer (approved or failed → paying)."""
    _transition(request, request.start_payout, name="start_payout", actor=actor, at=at, comment=comment)


def refund_mark_refunded(
    *, request: RefundRequest, actor: User | None, at: datetime.datetime, comment: str = ""
) -> None:
    """A verified answer, query or callback says the money left: the request is refunded."""
    if request.status in (RefundStatus.APPROVED, RefundStatus.PAYOUT_FAILED):
        refund_mark_paying(request=request, actor=actor, at=at, comment=comment)
    _transition(request, request.confirm_payout, name="confirm_payout", actor=actor, at=at, comment=comment)


def refund_mark_payout_failed(*, request: RefundRequest, at: datetime.datetime, payout_no: str, comment: str) -> bool:
    """The payment was refused for good (or never sent by the guard): the request waits for finance.
    False when the request was not waiting for its money (nothing changed)."""
    if request.status == RefundStatus.APPROVED:
        refund_mark_paying(request=request, actor=None, at=at, comment=payout_no)
    if request.status != RefundStatus.PAYING:
        return False
    _transition(request, request.fail_payout, name="fail_payout", actor=None, at=at, comment=comment)
    return True


def refund_close_nothing_due(
    *,
    request: RefundRequest,
    actor: User | None,
    at: datetime.datetime,
    reason: str = "",
    exchange_completed: bool = False,
) -> RefundRequest:
    """Close a request with nothing to pay (approved at 0.00, or closed by finance after a failed
    payment), in the caller's transaction: the order is free for a later request; the student is told."""
    _transition(
        request,
        request.close_without_payout,
        name="close",
        actor=actor,
        at=at,
        comment=reason or _("Approved with nothing to refund."),
        event=RefundEventKind.CLOSED,
        amount=request.approved_amount,
        reason=reason,
        by_finance=request.status == RefundStatus.PAYOUT_FAILED,
        exchange_completed=exchange_completed,
    )
    return request


# --- The clock --------------------------------------------------------------------------------


def refund_steps_escalate(*, now: datetime.datetime | None = None) -> int:
    """Escalate every pending step past its deadline to the next person up; each step once."""
    now = now or timezone.now()
    due = list(
        ApprovalStep.objects.filter(decision=StepDecision.PENDING, escalated_at__isnull=True, due_at__lte=now)
        .order_by("due_at")
        .values_list("pk", "request_id")
    )
    done = 0
    for step_id, request_id in due:
        with transaction.atomic():
            # The request first, then its step: the order every decision takes its locks in.
            request = RefundRequest.objects.select_for_update().filter(pk=request_id).first()
            step = (
                # Only the step's row: PostgreSQL cannot lock the nullable side of the outer join.
                ApprovalStep.objects.select_for_update(of=("self",))
                .select_related("assignee__manager")
                .filter(pk=step_id, decision=StepDecision.PENDING, escalated_at__isnull=True)
                .first()
            )
            if request is None or step is None:
                continue  # decided or escalated meanwhile
            step.request = request
            target = _escalation_target(step)
            step.escalated_at = now
            step.escalated_to = target
            step.save(update_fields=["escalated_at", "escalated_to"])
            comment = _("%(tier)s waited more than its deadline; escalated to %(to)s.") % {
                "tier": step.get_tier_display(),
                "to": target.name if target else _("nobody: no one above is free to decide it"),
            }
            _transition_log(request, name="escalate", actor=None, from_status=request.status, comment=comment, at=now)
            refund_event_record(
                request=request,
                kind=RefundEventKind.ESCALATED,
                actor=None,
                at=now,
                tier=step.tier,
                from_staff=step.assignee_id,
                to_staff=target.pk if target else None,
            )
            done += 1
    return done


def refund_requests_expire(*, now: datetime.datetime | None = None) -> int:
    """Cancel requests that waited for the student's information longer than the campus allows."""
    now = now or timezone.now()
    done = 0
    for request_id, campus_id in RefundRequest.objects.filter(status=RefundStatus.NEEDS_INFO).values_list(
        "pk", "campus_id"
    ):
        days = approval_settings_for(campus=campus_id).needs_info_days
        with transaction.atomic():
            request = RefundRequest.objects.select_for_update().filter(pk=request_id).first()
            if request is None or request.status != RefundStatus.NEEDS_INFO:
                continue
            returned_at = (
                RefundTransition.objects.filter(request=request, to_status=RefundStatus.NEEDS_INFO)
                .order_by("-created_at")
                .values_list("created_at", flat=True)
                .first()
            )
            if returned_at is None or now - returned_at < datetime.timedelta(days=days):
                continue
            request.decided_at = now
            _transition(
                request,
                request.cancel,
                name="expire",
                actor=None,
                at=now,
                comment=_("No information was supplied within %(days)d days.") % {"days": days},
                event=RefundEventKind.CANCELLED,
                expired=True,
            )
            done += 1
    return done


# --- Who may act ------------------------------------------------------------------------------


def _staff_of(actor: User) -> Staff:
    staff: Staff | None = Staff.objects.select_related("user").filter(user=actor).first()
    if staff is None or not actor.is_active:
        raise _refused(rules.not_staff())
    return staff


def _lock(request_id: int, *, campus_id: int) -> RefundRequest:
    """Lock the request; another campus's request is not even there for its staff."""
    request = (
        RefundRequest.objects.select_for_update(of=("self",))
        .select_related("quote", "student__user")
        .filter(pk=request_id, campus_id=campus_id)
        .first()
    )
    if request is None:
        raise RefundActionError(_("No such refund request."), code="not_found")
    return request


def _lock_for_student(*, request_id: int, student: Student) -> RefundRequest:
    request = RefundRequest.objects.select_for_update().filter(pk=request_id, student=student).first()
    if request is None:
        raise RefundActionError(_("No such refund request."), code="not_found")
    return request


def _lock_for_decision(
    *, request_id: int, actor: User, at: datetime.datetime | None
) -> tuple[RefundRequest, ApprovalStep, Staff, bool]:
    """Lock the request and its pending step, and make sure ``actor`` may decide it
    (``rules.decision_right``, on what the locks hold)."""
    staff = _staff_of(actor)
    request = _lock(request_id, campus_id=staff.campus_id)
    right = rules.decision_right(
        request=request,
        staff=staff,
        step=_pending_step_or_none(request),
        decisions=_decisions_of(request, staff),
        on=timezone.localdate(at or timezone.now()),
    )
    if isinstance(right, Refusal):
        raise _refused(right)
    return request, right.step, staff, right.as_delegate


def _decisions_of(request: RefundRequest, staff: Staff) -> frozenset[str]:
    """The decisions ``staff`` took on ``request`` that separation of duties looks at."""
    return frozenset(
        request.steps.filter(decided_by=staff, decision__in=rules.BARRING_DECISIONS).values_list("decision", flat=True)
    )


def _pending_step_or_none(request: RefundRequest) -> ApprovalStep | None:
    """Lock the request's step waiting for a decision, if it has one."""
    step = (
        ApprovalStep.objects.select_for_update(of=("self",))
        .select_related("assignee__user", "assignee__delegate")
        .filter(request=request, decision=StepDecision.PENDING)
        .first()
    )
    if step is not None:
        step.request = request
    return step


def _pending_step(request: RefundRequest) -> ApprovalStep:
    """Lock the request's step waiting for a decision; refused when it has none."""
    step = _pending_step_or_none(request)
    if step is None:
        raise _refused(rules.no_pending_step())
    return step


def _order_left(request: RefundRequest) -> Decimal:
    """What the order of ``request`` still has to give back, other requests' money in flight deducted."""
    return order_money_left(order=request.order, exclude=request)


# --- Steps, routes, log -----------------------------------------------------------------------


def _advance(
    request: RefundRequest,
    *,
    position: int,
    actor: User | None,
    comment: str,
    at: datetime.datetime,
    name: str = "approve",
) -> ApprovalStep | None:
    """Move past the current tier to ``position``: the next tier, the automatic check, or approved.
    The step opened for the next tier, or None when the request left review."""
    settings = approval_settings_for(campus=request.campus_id)
    if position < len(request.route) and request.route[position] == ApprovalTier.AUTO:
        result = _auto_check(request, settings=settings, at=at)
        _step_record_auto(request, result=result, at=at)
        if result.passed:
            position = len(request.route)
        else:
            request.route = routing.route_after_auto_referral(route=request.route, position=position)
            position += 1
    request.route_position = min(position, len(request.route))
    if position < len(request.route):
        target = TIER_STATUS[request.route[position]]
        _transition(request, partial(request.advance, target), name=name, actor=actor, at=at, comment=comment)
        return _step_open(request, settings=settings, at=at)
    if request.approved_amount > 0 or request.kind == RequestKind.EXCHANGE:
        # An exchange stays approved until its difference is settled (``exchanges`` closes it).
        request.decided_at = at
        # Payments hears the event inside this transaction (a ``refund_event_writer``) and opens the
        # payout; a worker sends it after the commit.
        _transition(
            request,
            partial(request.advance, RefundStatus.APPROVED),
            name=name,
            actor=actor,
            at=at,
            comment=comment,
            event=RefundEventKind.APPROVED,
            amount=request.approved_amount,
        )
    else:  # nothing to pay: approved, then closed at once, which frees the order
        request.decided_at = at
        _transition(
            request, partial(request.advance, RefundStatus.APPROVED), name=name, actor=actor, at=at, comment=comment
        )
        refund_close_nothing_due(request=request, actor=None, at=at)
    return None


def _auto_check(request: RefundRequest, *, settings: ApprovalSettings, at: datetime.datetime) -> AutoCheckResult:
    """The automatic check of small refunds: progress, refund history, risk. Each finding is kept."""
    findings = []
    progress = request.quote.progress_percent
    if progress > settings.auto_max_progress:
        findings.append(
            _("Progress %(progress)s%% is above %(limit)s%%.")
            % {"progress": progress, "limit": settings.auto_max_progress}
        )
    recent = student_recent_refund_count(student_id=request.student_id, now=at, exclude_id=request.pk)
    if recent > settings.auto_max_recent_refunds:
        findings.append(
            _("Earlier refunds in 12 months: %(count)d (at most %(limit)d pass automatically).")
            % {"count": recent, "limit": settings.auto_max_recent_refunds}
        )
    student = Student.objects.only("high_risk").get(pk=request.student_id)
    if student.high_risk or request.risk_flags:
        findings.append(_("The student is flagged for review."))
    return AutoCheckResult(passed=not findings, findings=findings)


def _step_record_auto(request: RefundRequest, *, result: AutoCheckResult, at: datetime.datetime) -> None:
    comment = (
        _("Progress, refund history and risk checked: nothing unusual.")
        if result.passed
        else _("Referred to a person: %(why)s") % {"why": " ".join(result.findings)}
    )
    ApprovalStep.objects.create(
        request=request,
        tier=ApprovalTier.AUTO,
        decision=StepDecision.AUTO_PASSED if result.passed else StepDecision.AUTO_REFERRED,
        comment=comment,
        created_at=at,
        due_at=at,
        decided_at=at,
    )


def _step_open(request: RefundRequest, *, settings: ApprovalSettings, at: datetime.datetime) -> ApprovalStep:
    """Put the current tier in front of its approver and tell them."""
    tier = request.route[request.route_position]
    assignee = _assignee_for(request, tier=tier)
    step = ApprovalStep.objects.create(
        request=request,
        tier=tier,
        assignee=assignee,
        created_at=at,
        due_at=at + datetime.timedelta(hours=settings.sla_hours(tier)),
    )
    refund_event_record(
        request=request,
        kind=RefundEventKind.ASSIGNED,
        actor=None,
        at=at,
        tier=tier,
        assignee=assignee.pk if assignee else None,
        pool_role=None if assignee else str(TIER_ROLE[tier]),
        due_at=step.due_at,
    )
    return step


def _step_close(
    step: ApprovalStep, *, decision: str, by: Staff | None, delegate: bool, comment: str, at: datetime.datetime
) -> None:
    step.decision = decision
    step.decided_by = by
    step.delegate_used = delegate
    step.comment = comment
    step.decided_at = at
    step.save(update_fields=["decision", "decided_by", "delegate_used", "comment", "decided_at"])


def _assignee_for(request: RefundRequest, *, tier: str) -> Staff | None:
    """The concrete approver of ``tier``: the student's homeroom teacher, that teacher's supervisor,
    the campus head. Pool tiers (quality, finance) and a tier with nobody found have none.

    Someone who already approved a tier of this request, or rejected it before its appeal,
    is passed over for their manager (``rules.separation_refusal`` would refuse them anyway).
    """
    if tier in POOL_TIERS:
        return None
    barred = [StepDecision.APPROVED, StepDecision.REJECTED] if request.appealed_at else [StepDecision.APPROVED]
    decided = set(
        request.steps.filter(decision__in=barred).exclude(decided_by=None).values_list("decided_by", flat=True)
    )
    teacher = request.order.enrollment.homeroom_teacher
    chain: dict[str, Staff | None] = {ApprovalTier.HOMEROOM: teacher}
    chain[ApprovalTier.SUPERVISOR] = _up(teacher, StaffRole.SUPERVISOR, request.campus_id)
    chain[ApprovalTier.CAMPUS_HEAD] = _up(
        chain[ApprovalTier.SUPERVISOR] or teacher, StaffRole.CAMPUS_HEAD, request.campus_id
    )
    person = chain.get(tier)
    seen = set()
    while person is not None and person.pk in decided and person.pk not in seen:
        seen.add(person.pk)
        person = person.manager
    if person is not None and person.pk in decided:
        return None
    return person


def _up(start: Staff | None, role: str, campus_id: int) -> Staff | None:
    """The first manager up from ``start`` with ``role``, else anyone of that role at the campus."""
    person, hops = start.manager if start else None, 0
    while person is not None and hops < 5:
        if person.role == role and person.campus_id == campus_id and person.user.is_active:
            return person
        person, hops = person.manager, hops + 1
    anyone: Staff | None = Staff.objects.active().filter(campus_id=campus_id, role=role).order_by("pk").first()
    return anyone


def _escalation_target(step: ApprovalStep) -> Staff | None:
    """The next person up: the assignee's manager, else the campus head; never the assignee, nor
    someone who already approved a tier of this request (they could not act). None if nobody is left.
    """
    barred = set(
        step.request.steps.filter(decision=StepDecision.APPROVED)
        .exclude(decided_by=None)
        .values_list("decided_by", flat=True)
    )
    assignee = step.assignee
    if assignee is not None:
        barred.add(assignee.pk)
        manager = assignee.manager
        if manager is not None and manager.pk not in barred and manager.user.is_active:
            return manager
    head: Staff | None = (
        Staff.objects.active()
        .filter(campus_id=step.request.campus_id, role=StaffRole.CAMPUS_HEAD)
        .exclude(pk__in=barred)
        .order_by("pk")
        .first()
    )
    return head


def _transition(
    request: RefundRequest,
    move: Callable[[], object] | None,
    *,
    name: str,
    actor: User | None,
    at: datetime.datetime,
    comment: str = "",
    event: RefundEventKind | None = None,
    **payload: Any,
) -> None:
    """Move ``request`` by ``move`` (one of its django-fsm transitions, bound; None when only its
    data changed) and keep the record in the same transaction: the saved row and its history,
    the log row ``name`` (from the state before, to the state after), and the domain event
    ``event`` with ``payload`` when there is one."""
    from_status = request.status
    if move is not None:
        move()
    _request_save(request, actor, at=at)
    _transition_log(request, name=name, actor=actor, from_status=from_status, comment=comment, at=at)
    if event is not None:
        refund_event_record(request=request, kind=event, actor=actor, at=at, **payload)


def _request_save(request: RefundRequest, actor: User | None, *, at: datetime.datetime) -> None:
    """Save the request; its history record names ``actor`` and the time the service acted at."""
    history_note(request, user=actor, at=at)
    try:
        request.save()
    except ConcurrentTransition as exc:  # pragma: no cover - the row lock makes this a safety net
        raise RefundActionError(_("Someone else changed this request just now; reload it."), code="stale") from exc


def _transition_log(
    request: RefundRequest, *, name: str, actor: User | None, from_status: str, comment: str, at: datetime.datetime
) -> None:
    RefundTransition.objects.create(
        request=request,
        name=name,
        actor=actor,
        from_status=from_status,
        to_status=request.status,
        comment=comment,
        created_at=at,
    )
