"""Every write of the service desk, one transaction each: a ticket opened by the student or
registered by staff for her, the conversation, the four SOP steps, and the clocks' escalations.

The clocks (``selectors.desk_clock_for``, business time on the campus's hours and calendar):

- reply: from the moment a student's words wait for us (opening, or a message of hers) to our
  next public reply; 4 h, urgent 30 min (the campus's settings). The first one is stored as the
  first response time;
- resolution: from the contact to the solution; complaints and refund disputes 48 h, others 72 h;
  paused while we wait for the student (status "waiting"), as Zendesk pauses it on "pending".

A clock escalates three times, once per level and deadline (``TicketEscalation`` is unique on
ticket, clock, deadline and level): L1 when ``warn_at_percent`` of its time is used (customer
service: the owner, or the campus's customer service while nobody owns it), L2 at the deadline
(the campus's teaching supervisors, and the owner), L3 once it is late by a quarter of its time,
at least 30 minutes (the campus head). Everyone is told through the outbox.
"""

from __future__ import annotations

import datetime
import logging
import secrets
from decimal import Decimal, InvalidOperation
from functools import partial

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from orders.models import Course, Order
from refunds.evidence import CheckedFile, checked_files_store, evidence_check, stored_files_delete
from refunds.models import RefundRequest
from refunds.services import RefundActionError, refund_submit_for_student
from schoolops.errors import ActionRefused
from schoolops.history import history_note
from schoolops.models import Staff, StaffRole, User
from schoolops.scoping import visible_campus_ids
from students.models import Student

from . import notices, rules
from .clock import DeskClock
from .models import (
    ACTIVE_STATUSES,
    DeskSettings,
    EscalationLevel,
    MessageKind,
    RootCause,
    SlaClock,
    SolutionKind,
    Ticket,
    TicketAttachment,
    TicketCategory,
    TicketChannel,
    TicketEscalation,
    TicketMessage,
    TicketPriority,
    TicketStatus,
)
from .selectors import desk_of

logger = logging.getLogger(__name__)

HANDLE_PERMISSION = "servicedesk.handle_ticket"
ARCHIVE_PERMISSION = "servicedesk.archive_ticket"
REGISTER_PERMISSION = "servicedesk.add_ticket"
MAX_TEXT = 4000
L3_MINIMUM_LATE = datetime.timedelta(minutes=30)


class TicketError(ActionRefused):
    """A refused ticket action: nothing was changed; ``message`` says what and where."""


# --- Opening ---------------------------------------------------------------------------------


def ticket_open(
    *,
    student: Student,
    category: str,
    subject: str,
    description: str,
    priority: str = TicketPriority.NORMAL,
    urgent_reason: str = "",
    order_id: int | None = None,
    refund_request_id: int | None = None,
    attachments: list[UploadedFile] | None = None,
    at: datetime.datetime | None = None,
) -> Ticket:
    """The student asks from her personal center ("联系客服")."""
    now = at or timezone.now()
    return _ticket_create(
        student=student,
        category=category,
        subject=subject,
        description=description,
        priority=priority,
        urgent_reason=urgent_reason,
        order_id=order_id,
        refund_request_id=refund_request_id,
        attachments=attachments or [],
        channel=TicketChannel.PORTAL,
        contact_name="",
        contacted_at=now,
        registered_by=None,
        author=student.user,
        at=now,
    )


def ticket_register(
    *,
    actor: User,
    student_id: int,
    channel: str,
    contact_name: str,
    contacted_at: datetime.datetime,
    category: str,
    subject: str,
    description: str,
    priority: str = TicketPriority.NORMAL,
    urgent_reason: str = "",
    order_id: int | None = None,
    refund_request_id: int | None = None,
    attachments: list[UploadedFile] | None = None,
    at: datetime.datetime | None = None,
) -> Ticket:
    """Staff register a phone, WeChat, walk-in or e-mail contact as a ticket for the student;
    the clocks start when she contacted us."""
    now = at or timezone.now()
    _require(actor, REGISTER_PERMISSION)
    if channel not in TicketChannel.values or channel == TicketChannel.PORTAL:
        raise TicketError(_("Choose how the student contacted us: phone, WeChat, walk-in or e-mail."), code="channel")
    if not (contact_name or "").strip():
        raise TicketError(_("Say who contacted us (the student, a parent…)."), code="contact_name")
    if contacted_at is None or contacted_at > now + datetime.timedelta(minutes=5):
        raise TicketError(_("The contact time cannot be in the future."), code="contacted_at")
    ids = visible_campus_ids(actor)
    student = Student.objects.select_related("user").filter(pk=student_id).first()
    if student is None or (ids is not None and student.campus_id not in ids):
        raise TicketError(_("No such student at your campus."), code="student")
    return _ticket_create(
        student=student,
        category=category,
        subject=subject,
        description=description,
        priority=priority,
        urgent_reason=urgent_reason,
        order_id=order_id,
        refund_request_id=refund_request_id,
        attachments=attachments or [],
        channel=channel,
        contact_name=contact_name.strip()[:64],
        contacted_at=min(contacted_at, now),
        registered_by=actor,
        author=actor,
        at=now,
    )


def _ticket_create(
    *,
    student: Student,
    category: str,
    subject: str,
    description: str,
    priority: str,
    urgent_reason: str,
    order_id: int | None,
    refund_request_id: int | None,
    attachments: list[UploadedFile],
    channel: str,
    contact_name: str,
    contacted_at: datetime.datetime,
    registered_by: User | None,
    author: User,
    at: datetime.datetime,
) -> Ticket:
    if category not in TicketCategory.values:
        raise TicketError(_("Choose what the ticket is about."), code="category")
    if priority not in TicketPriority.values:
        raise TicketError(_("Choose normal or urgent."), code="priority")
    description = _text(description, field="description", label=_("Describe the problem."))
    subject = (subject or "").strip()[:120] or description.splitlines()[0][:40]
    urgent_reason = (urgent_reason or "").strip()[:300]
    if priority == TicketPriority.URGENT and not urgent_reason:
        raise TicketError(_("Say why it is urgent, so we can answer within 30 minutes."), code="urgent_reason")
    order = None
    if order_id:
        order = Order.objects.select_related("course").filter(pk=order_id, student=student).first()
        if order is None:
            raise TicketError(_("That order is not one of this student's."), code="order")
    refund = None
    if refund_request_id:
        refund = RefundRequest.objects.filter(pk=refund_request_id, student=student).first()
        if refund is None:
            raise TicketError(_("That refund request is not one of this student's."), code="refund_request")
        order = order or refund.order
    checked = _check_files(attachments)
    campus_id = order.course.campus_id if order is not None else student.campus_id
    saved: list[str] = []
    try:
        with transaction.atomic():
            settings, clock = desk_of(campus_id=campus_id, around=contacted_at)
            ticket = Ticket(
                ticket_no=f"TK{timezone.localtime(at):%Y%m%d}{secrets.randbelow(10**8):08d}",
                student=student,
                campus_id=campus_id,
                category=category,
                priority=priority,
                urgent_reason=urgent_reason if priority == TicketPriority.URGENT else "",
                subject=subject,
                description=description,
                order=order,
                refund_request=refund,
                channel=channel,
                contact_name=contact_name,
                contacted_at=contacted_at,
                registered_by=registered_by,
                created_at=at,
                owner=_pick_owner(campus_id),
            )
            _start_reply_clock(ticket, clock=clock, settings=settings, since=contacted_at)
            _set_resolution_clock(ticket, clock=clock, settings=settings)
            _schedule(ticket, clock=clock, settings=settings, done=set())
            history_note(ticket, user=author, at=at)
            ticket.save()
            message = TicketMessage.objects.create(
                ticket=ticket, kind=MessageKind.STUDENT, author=author, body=description, created_at=at
            )
            checked_files_store(checked, row=partial(TicketAttachment, message=message), saved=saved)
            notices.ticket_received(ticket)
    except BaseException:
        stored_files_delete(saved)
        raise
    logger.info("Ticket %s opened for student %s (%s)", ticket.ticket_no, student.pk, channel)
    return ticket


def _pick_owner(campus_id: int) -> Staff | None:
    """The campus's customer-service person with the fewest open tickets (None: the pool)."""
    owner: Staff | None = (
        Staff.objects.active()
        .filter(campus_id=campus_id, role=StaffRole.SERVICE)
        .annotate(load=Count("tickets", filter=Q(tickets__status__in=ACTIVE_STATUSES)))
        .order_by("load", "pk")
        .first()
    )
    return owner


# --- The conversation -------------------------------------------------------------------------


def ticket_student_reply(
    *,
    student: Student,
    ticket_no: str,
    body: str,
    attachments: list[UploadedFile] | None = None,
    at: datetime.datetime | None = None,
) -> TicketMessage:
    """She writes again: a waiting ticket is hers to answer no more (its resolution clock runs
    again), a resolved one opens again; either way our reply clock starts."""
    body = _text(body, field="body", label=_("Write your message."))
    checked = _check_files(attachments or [])
    saved: list[str] = []
    try:
        with transaction.atomic():
            ticket = Ticket.objects.select_for_update().filter(student=student, ticket_no=ticket_no).first()
            if ticket is None:
                raise TicketError(_("No such ticket."), code="not_found")
            now = at or timezone.now()
            if ticket.status == TicketStatus.ARCHIVED:
                raise TicketError(
                    _("This ticket is closed and archived; open a new one and mention %(no)s.")
                    % {"no": ticket.ticket_no},
                    code="state",
                )
            settings, clock = desk_of(campus_id=ticket.campus_id, around=now)
            _resume(ticket, clock=clock, settings=settings, now=now)
            if ticket.status == TicketStatus.RESOLVED:
                ticket.status = TicketStatus.OPEN
                ticket.resolved_at = None
                ticket.resolution_seconds = None
            if ticket.awaiting_reply_since is None:
                _start_reply_clock(ticket, clock=clock, settings=settings, since=now)
            _schedule(ticket, clock=clock, settings=settings)
            history_note(ticket, user=student.user, at=now)
            ticket.save()
            message = TicketMessage.objects.create(
                ticket=ticket, kind=MessageKind.STUDENT, author=student.user, body=body, created_at=now
            )
            checked_files_store(checked, row=partial(TicketAttachment, message=message), saved=saved)
            notices.ticket_student_wrote(ticket, message)
    except BaseException:
        stored_files_delete(saved)
        raise
    return message


def ticket_reply(
    *,
    actor: User,
    ticket_id: int,
    body: str,
    internal: bool = False,
    wait_for_student: bool = False,
    attachments: list[UploadedFile] | None = None,
    at: datetime.datetime | None = None,
) -> TicketMessage:
    """Staff answer the student (stops the reply clock; optionally pauses the resolution clock
    while she answers) or leave an internal note (changes nothing she can see)."""
    body = _text(body, field="body", label=_("Write the reply."))
    checked = _check_files(attachments or [])
    saved: list[str] = []
    try:
        with transaction.atomic():
            ticket = _lock(actor, ticket_id, HANDLE_PERMISSION)
            now = at or timezone.now()
            _check_state(ticket, rules.REPLY)
            message = TicketMessage.objects.create(
                ticket=ticket,
                kind=MessageKind.NOTE if internal else MessageKind.REPLY,
                author=actor,
                body=body,
                created_at=now,
            )
            checked_files_store(checked, row=partial(TicketAttachment, message=message), saved=saved)
            if not internal:
                settings, clock = desk_of(campus_id=ticket.campus_id, around=now)
                _stop_reply_clock(ticket, clock=clock, now=now)
                if ticket.owner_id is None:
                    ticket.owner = Staff.objects.filter(user=actor).first()
                if wait_for_student and ticket.status == TicketStatus.OPEN:
                    ticket.status = TicketStatus.WAITING
                    ticket.paused_at = now
                _schedule(ticket, clock=clock, settings=settings)
                history_note(ticket, user=actor, at=now)
                ticket.save()
                notices.ticket_replied(ticket, message)
    except BaseException:
        stored_files_delete(saved)
        raise
    return message


# --- Owner and priority ---------------------------------------------------------------------------


def ticket_assign(*, actor: User, ticket_id: int, owner_id: int, at: datetime.datetime | None = None) -> Ticket:
    """Give the ticket to a colleague of its campus who handles tickets."""
    with transaction.atomic():
        ticket = _lock(actor, ticket_id, HANDLE_PERMISSION)
        now = at or timezone.now()
        _check_state(ticket, rules.ASSIGN)
        owner = Staff.objects.active().select_related("user").filter(pk=owner_id, campus_id=ticket.campus_id).first()
        if owner is None or not owner.user.has_perm(HANDLE_PERMISSION):
            raise TicketError(_("Choose an active colleague of this campus who handles tickets."), code="owner")
        if owner.pk == ticket.owner_id:
            return ticket
        ticket.owner = owner
        history_note(ticket, user=actor, at=now)
        ticket.save()
        notices.ticket_assigned(ticket)
    return ticket


def ticket_set_priority(
    *, actor: User, ticket_id: int, priority: str, reason: str, at: datetime.datetime | None = None
) -> Ticket:
    """Raise or lower the priority, with a reason; a reply still owed is due by the new target,
    counted from when it started waiting."""
    if priority not in TicketPriority.values:
        raise TicketError(_("Choose normal or urgent."), code="priority")
    reason = _text(reason, field="reason", label=_("Say why the priority changes."), limit=300)
    with transaction.atomic():
        ticket = _lock(actor, ticket_id, HANDLE_PERMISSION)
        now = at or timezone.now()
        _check_state(ticket, rules.PRIORITY)
        if ticket.priority == priority:
            return ticket
        ticket.priority = priority
        if priority == TicketPriority.URGENT and not ticket.urgent_reason:
            ticket.urgent_reason = reason
        settings, clock = desk_of(campus_id=ticket.campus_id, around=ticket.awaiting_reply_since or now)
        if ticket.awaiting_reply_since is not None:
            _start_reply_clock(ticket, clock=clock, settings=settings, since=ticket.awaiting_reply_since)
        _schedule(ticket, clock=clock, settings=settings)
        history_note(ticket, user=actor, reason=reason, at=now)
        ticket.save()
        TicketMessage.objects.create(
            ticket=ticket,
            kind=MessageKind.NOTE,
            author=actor,
            body=_("Priority changed to %(priority)s: %(reason)s")
            % {"priority": ticket.get_priority_display(), "reason": reason},
            created_at=now,
        )
    return ticket


# --- The four steps -------------------------------------------------------------------------------


def ticket_assess(
    *, actor: User, ticket_id: int, finding: str, policy_point: str = "", at: datetime.datetime | None = None
) -> Ticket:
    """Step 2: what we found and the policy point it turns on (staff only; may be revised)."""
    finding = _text(finding, field="finding", label=_("Write what you found."))
    with transaction.atomic():
        ticket = _lock(actor, ticket_id, HANDLE_PERMISSION)
        now = at or timezone.now()
        _check_state(ticket, rules.ASSESS)
        ticket.assessment = finding
        ticket.policy_point = (policy_point or "").strip()[:200]
        ticket.assessed_at = now
        ticket.assessed_by = actor
        history_note(ticket, user=actor, at=now)
        ticket.save()
    return ticket


def ticket_resolve(
    *,
    actor: User,
    ticket_id: int,
    solution_kind: str,
    solution: str,
    refund_request_id: int | None = None,
    compensation: Decimal | str | None = None,
    at: datetime.datetime | None = None,
) -> Ticket:
    """Step 3: the solution, linked to what it did; the student reads it as our reply."""
    if solution_kind not in SolutionKind.values:
        raise TicketError(_("Choose what the solution was."), code="solution_kind")
    solution = _text(solution, field="solution", label=_("Write the solution the student is given."))
    amount = _compensation(compensation) if solution_kind == SolutionKind.COMPENSATION else None
    with transaction.atomic():
        ticket = _lock(actor, ticket_id, HANDLE_PERMISSION)
        now = at or timezone.now()
        _check_state(ticket, rules.RESOLVE)
        refund = None
        if solution_kind in (SolutionKind.REFUND_OPENED, SolutionKind.REFUND_DECIDED):
            refund = RefundRequest.objects.filter(pk=refund_request_id or 0, student_id=ticket.student_id).first()
            if refund is None:
                raise TicketError(_("Link the student's refund request the solution is about."), code="refund_request")
        settings, clock = desk_of(campus_id=ticket.campus_id, around=now)
        _resume(ticket, clock=clock, settings=settings, now=now)
        _stop_reply_clock(ticket, clock=clock, now=now)
        ticket.status = TicketStatus.RESOLVED
        ticket.solution_kind = solution_kind
        ticket.solution = solution
        ticket.solution_refund = refund
        ticket.compensation = amount
        ticket.resolved_at = now
        ticket.resolved_by = actor
        ticket.resolution_seconds = max(0, clock.between(ticket.contacted_at, now) - ticket.paused_seconds)
        if ticket.owner_id is None:
            ticket.owner = Staff.objects.filter(user=actor).first()
        ticket.next_escalation_at = None  # resolved: no clock runs
        history_note(ticket, user=actor, at=now)
        ticket.save()
        message = TicketMessage.objects.create(
            ticket=ticket, kind=MessageKind.REPLY, author=actor, body=solution, created_at=now
        )
        notices.ticket_resolved(ticket, message)
    return ticket


def ticket_archive(
    *,
    actor: User,
    ticket_id: int,
    root_cause: str = "",
    course_id: int | None = None,
    teacher_id: int | None = None,
    note: str = "",
    at: datetime.datetime | None = None,
) -> Ticket:
    """Step 4: reviewed and archived; a complaint or dispute needs its root cause."""
    if root_cause and root_cause not in RootCause.values:
        raise TicketError(_("Choose a root cause from the list."), code="root_cause")
    with transaction.atomic():
        ticket = _lock(actor, ticket_id, ARCHIVE_PERMISSION)
        now = at or timezone.now()
        _check_state(ticket, rules.ARCHIVE)
        if ticket.is_complaint and not root_cause:
            raise TicketError(_("A complaint cannot be archived without its root cause."), code="root_cause")
        course = None
        if course_id:
            course = Course.objects.filter(pk=course_id, campus_id=ticket.campus_id).first()
            if course is None:
                raise TicketError(_("Choose a course of this campus."), code="course")
        teacher = None
        if teacher_id:
            teacher = Staff.objects.filter(pk=teacher_id, campus_id=ticket.campus_id).first()
            if teacher is None:
                raise TicketError(_("Choose a teacher of this campus."), code="teacher")
        ticket.status = TicketStatus.ARCHIVED
        ticket.root_cause = root_cause
        ticket.root_course = course or (ticket.order.course if ticket.order_id and ticket.order else None)
        ticket.root_teacher = teacher
        ticket.review_note = (note or "").strip()[:MAX_TEXT]
        ticket.archived_at = now
        ticket.archived_by = actor
        history_note(ticket, user=actor, at=now)
        ticket.save()
    return ticket


# --- The refund desk --------------------------------------------------------------------------


def ticket_file_refund(
    *,
    actor: User,
    ticket_id: int,
    order_id: int,
    reason: str,
    details: str,
    consent_channel: str,
    consent_at: datetime.datetime | None,
    consent_note: str = "",
    evidence: list[UploadedFile] | None = None,
    at: datetime.datetime | None = None,
) -> RefundRequest:
    """Customer service files a refund request for the ticket's student, with her consent
    (``refund_submit_for_student``), and links it to the ticket with an internal note; both or
    neither."""
    with transaction.atomic():
        ticket = _lock(actor, ticket_id, HANDLE_PERMISSION)
        now = at or timezone.now()
        _check_state(ticket, rules.FILE_REFUND)
        order = Order.objects.filter(pk=order_id, student_id=ticket.student_id).first()
        if order is None:
            raise TicketError(_("That order is not one of this student's."), code="order")
        try:
            refund = refund_submit_for_student(
                actor=actor,
                student_id=ticket.student_id,
                order_no=order.order_no,
                reason=reason,
                details=details,
                consent_channel=consent_channel,
                consent_at=consent_at,
                consent_note=consent_note,
                evidence=evidence,
                at=now,
            )
        except RefundActionError as exc:
            raise TicketError(exc.message, code=exc.code) from exc
        if ticket.refund_request_id is None:
            ticket.refund_request = refund
            history_note(ticket, user=actor, at=now)
            ticket.save(update_fields=["refund_request"])
        TicketMessage.objects.create(
            ticket=ticket,
            kind=MessageKind.NOTE,
            author=actor,
            body=_("Refund request %(no)s filed for the student (%(consent)s, %(at)s), %(amount)s yuan.")
            % {
                "no": refund.request_no,
                "consent": refund.get_consent_channel_display(),
                "at": f"{timezone.localtime(refund.consent_at):%Y-%m-%d %H:%M}" if refund.consent_at else "",
                "amount": refund.approved_amount,
            },
            created_at=now,
        )
    return refund


# --- Escalation -------------------------------------------------------------------------------


def tickets_escalate(*, now: datetime.datetime | None = None) -> int:
    """The beat job: escalate every clock about to breach or breached, once per level. Returns
    the escalations recorded. Only the tickets whose next level is due are visited
    (``next_escalation_at``, kept by every change of a clock)."""
    now = now or timezone.now()
    due = Ticket.objects.filter(status__in=ACTIVE_STATUSES, next_escalation_at__lte=now).values_list("pk", flat=True)
    clocks: dict[int, tuple[DeskSettings, DeskClock]] = {}  # per campus, for this run
    recorded = 0
    for pk in list(due):
        recorded += _ticket_escalate(pk, now=now, clocks=clocks)
    return recorded


def _ticket_escalate(
    ticket_id: int, *, now: datetime.datetime, clocks: dict[int, tuple[DeskSettings, DeskClock]]
) -> int:
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().filter(pk=ticket_id, status__in=ACTIVE_STATUSES).first()
        if ticket is None:
            return 0
        if ticket.campus_id not in clocks:
            clocks[ticket.campus_id] = desk_of(campus_id=ticket.campus_id, around=now)
        settings, clock = clocks[ticket.campus_id]
        done = set(ticket.escalations.values_list("clock", "due_at", "level"))
        recorded = 0
        for name, due_at, level, starts in _escalation_steps(ticket, clock=clock, settings=settings):
            if now < starts or (name, due_at, level) in done:
                continue
            told = _escalation_audience(ticket, level)
            row = TicketEscalation.objects.create(ticket=ticket, clock=name, level=level, due_at=due_at, at=now)
            row.told.set(told)
            notices.ticket_escalated(ticket, row, told)
            ticket.escalation_level = max(ticket.escalation_level, level)
            done.add((name, due_at, level))
            recorded += 1
        _schedule(ticket, clock=clock, settings=settings, done=done)
        if recorded:
            history_note(ticket, user=None, at=now)
        ticket.save(update_fields=["escalation_level", "next_escalation_at"])
    return recorded


EscalationStep = tuple[str, datetime.datetime, int, datetime.datetime]  # clock, deadline, level, from when


def _escalation_steps(ticket: Ticket, *, clock: DeskClock, settings: DeskSettings) -> list[EscalationStep]:
    """Every level of the clocks running now: L1 at the warning, L2 at the deadline, L3 once late
    by a quarter of the time (at least 30 minutes). A paused resolution clock has none."""
    if ticket.status not in ACTIVE_STATUSES:
        return []
    reply_target, resolution_target = _targets(settings, ticket)
    running = []
    if ticket.response_due_at is not None and ticket.response_warn_at is not None:
        running.append((SlaClock.RESPONSE, ticket.response_warn_at, ticket.response_due_at, reply_target))
    if ticket.paused_at is None and ticket.resolution_due_at is not None and ticket.resolution_warn_at is not None:
        running.append((SlaClock.RESOLUTION, ticket.resolution_warn_at, ticket.resolution_due_at, resolution_target))
    steps: list[EscalationStep] = []
    for name, warn_at, due_at, target in running:
        late_at = clock.add(due_at, max(target / 4, L3_MINIMUM_LATE.total_seconds()))
        steps += [
            (name, due_at, EscalationLevel.SERVICE, warn_at),
            (name, due_at, EscalationLevel.SUPERVISOR, due_at),
            (name, due_at, EscalationLevel.CAMPUS_HEAD, late_at),
        ]
    return steps


def _schedule(
    ticket: Ticket,
    *,
    clock: DeskClock,
    settings: DeskSettings,
    done: set[tuple[str, datetime.datetime, int]] | None = None,
) -> None:
    """When the beat should next look at the ticket: its earliest level not yet recorded (None
    when every level is, or no clock runs). ``done``: the levels recorded, when known."""
    steps = _escalation_steps(ticket, clock=clock, settings=settings)
    if done is None:
        done = set(ticket.escalations.values_list("clock", "due_at", "level")) if ticket.pk and steps else set()
    ticket.next_escalation_at = min(
        (starts for name, due_at, level, starts in steps if (name, due_at, level) not in done), default=None
    )


def _escalation_audience(ticket: Ticket, level: int) -> list[Staff]:
    staff = Staff.objects.active().select_related("user").filter(campus_id=ticket.campus_id)
    owner = [ticket.owner] if ticket.owner_id and ticket.owner and ticket.owner.user.is_active else []
    if level == EscalationLevel.SERVICE:
        return owner or list(staff.filter(role=StaffRole.SERVICE))
    role = StaffRole.SUPERVISOR if level == EscalationLevel.SUPERVISOR else StaffRole.CAMPUS_HEAD
    people = list(staff.filter(role=role)) or list(staff.filter(role=StaffRole.CAMPUS_HEAD))
    return [*people, *(o for o in owner if o not in people)]


# --- The clocks ---------------------------------------------------------------------------------


def _targets(settings: DeskSettings, ticket: Ticket) -> tuple[int, int]:
    """(reply, resolution) targets in business seconds."""
    reply = settings.urgent_response_minutes if ticket.priority == TicketPriority.URGENT else settings.response_minutes
    hours = settings.complaint_resolution_hours if ticket.is_complaint else settings.resolution_hours
    return reply * 60, hours * 3600


def _start_reply_clock(ticket: Ticket, *, clock: DeskClock, settings: DeskSettings, since: datetime.datetime) -> None:
    target, _resolution = _targets(settings, ticket)
    ticket.awaiting_reply_since = since
    ticket.response_due_at = clock.add(since, target)
    ticket.response_warn_at = clock.add(since, target * settings.warn_at_percent / 100)


def _stop_reply_clock(ticket: Ticket, *, clock: DeskClock, now: datetime.datetime) -> None:
    if ticket.first_response_at is None:
        ticket.first_response_at = now
        ticket.first_response_seconds = clock.between(ticket.contacted_at, now)
    ticket.awaiting_reply_since = None
    ticket.response_due_at = None
    ticket.response_warn_at = None


def _set_resolution_clock(ticket: Ticket, *, clock: DeskClock, settings: DeskSettings) -> None:
    _reply, target = _targets(settings, ticket)
    ticket.resolution_due_at = clock.add(ticket.contacted_at, target + ticket.paused_seconds)
    ticket.resolution_warn_at = clock.add(
        ticket.contacted_at, target * settings.warn_at_percent / 100 + ticket.paused_seconds
    )


def _resume(ticket: Ticket, *, clock: DeskClock, settings: DeskSettings, now: datetime.datetime) -> None:
    """End a pause: the open time spent waiting for the student moves the resolution deadline."""
    if ticket.status == TicketStatus.WAITING:
        ticket.status = TicketStatus.OPEN
    if ticket.paused_at is not None:
        ticket.paused_seconds += clock.between(ticket.paused_at, now)
        ticket.paused_at = None
        _set_resolution_clock(ticket, clock=clock, settings=settings)


# --- Helpers --------------------------------------------------------------------------------


def _require(actor: User, permission: str) -> None:
    if not (actor.is_active and actor.has_perm(permission)):
        raise TicketError(_("You may not do this."), code="forbidden")


def _check_state(ticket: Ticket, action: str) -> None:
    refusal = rules.state_refusal(ticket.status, action)
    if refusal is not None:
        raise TicketError(refusal, code="state")


def _lock(actor: User, ticket_id: int, permission: str) -> Ticket:
    """The ticket, locked, if ``actor`` holds ``permission`` and sees its campus."""
    _require(actor, permission)
    ids = visible_campus_ids(actor)
    tickets = Ticket.objects.select_for_update().filter(pk=ticket_id)
    if ids is not None:
        tickets = tickets.filter(campus_id__in=ids)
    ticket = tickets.first()
    if ticket is None:
        raise TicketError(_("No such ticket at your campus."), code="not_found")
    return ticket


def _text(value: str, *, field: str, label: str, limit: int = MAX_TEXT) -> str:
    text = (value or "").strip()
    if not text:
        raise TicketError(label, code=field)
    if len(text) > limit:
        raise TicketError(
            _("At most %(limit)d characters; this is %(count)d.") % {"limit": limit, "count": len(text)}, code=field
        )
    return text


def _compensation(value: Decimal | str | None) -> Decimal:
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError, TypeError):
        raise TicketError(_("Give the compensation in yuan, e.g. 200.00."), code="compensation") from None
    if amount <= 0 or amount >= Decimal("100000000"):
        raise TicketError(_("Give the compensation in yuan, e.g. 200.00."), code="compensation")
    return amount


def _check_files(files: list[UploadedFile]) -> list[CheckedFile]:
    try:
        return evidence_check(list(files))
    except ValidationError as exc:
        raise TicketError(" ".join(exc.messages), code="attachments") from exc
