"""Tickets in the admin: the campus's list, each ticket's page, and a contact registered for a
student (the admin's "add" page).

The list shows the active tickets first by the clock that runs out first: the reply while one is
owed, else the resolution (unless paused while we wait for the student). The ticket page shows
the facts, the clocks, the four SOP steps, the conversation (internal notes marked) and the
escalations, with a form for each action the ticket's status allows (``rules.state_refusal``)
and the user's permissions. Every form posts to its own URL and calls one service of
``servicedesk.services``, which checks the permission, the campus and the status again; its
refusal (``TicketError``) is an error message above the page, with what was typed kept. Every
page is limited to the user's campuses: another campus's ticket answers 404.

URLs (names under the ``admin`` namespace):

- ``servicedesk_ticket_changelist``  /admin/servicedesk/ticket/
- ``servicedesk_ticket_add``         /admin/servicedesk/ticket/add/  (register a contact)
- ``servicedesk_ticket_change``      /admin/servicedesk/ticket/<id>/change/  (the ticket page)
- ``servicedesk_ticket_<action>``    /admin/servicedesk/ticket/<id>/<action>/, POST only, for
  reply, assign, priority, assess, resolve and archive
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Case, DateTimeField, F, QuerySet, Value, When
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from refunds.admin.decisions import DIRECT
from refunds.models import PENDING_STATES
from refunds.selectors import approval_settings_for
from schoolops.admin_mixins import acting_user_with
from schoolops.models import StaffRole, User
from schoolops.scoping import CampusScopedAdminMixin, HeadOfficeCampusFilter, visible_campus_ids

from .. import rules
from ..models import (
    ACTIVE_STATUSES,
    EscalationLevel,
    SlaClock,
    Ticket,
    TicketChannel,
    TicketPriority,
    TicketStatus,
)
from ..notices import duration_words
from ..selectors import ticket_page_for_staff
from ..services import (
    ARCHIVE_PERMISSION,
    HANDLE_PERMISSION,
    REGISTER_PERMISSION,
    TicketError,
    ticket_archive,
    ticket_assess,
    ticket_assign,
    ticket_file_refund,
    ticket_register,
    ticket_reply,
    ticket_resolve,
    ticket_set_priority,
)
from .forms import (
    ArchiveForm,
    AssessForm,
    AssignForm,
    FileRefundForm,
    PriorityForm,
    RegisterForm,
    ReplyForm,
    ResolveForm,
    TicketActionForm,
)

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

DESK_CSS = {"all": ["css/admin_servicedesk.css"]}

# The moment the clock that runs out first is due: the reply while one is owed, else the
# resolution unless it is paused; nothing for a closed ticket. The list sorts by it.
NEXT_DUE = Case(
    When(status__in=ACTIVE_STATUSES, response_due_at__isnull=False, then=F("response_due_at")),
    When(status__in=ACTIVE_STATUSES, paused_at__isnull=True, then=F("resolution_due_at")),
    default=Value(None),
    output_field=DateTimeField(),
)


# --- The clocks, as the list and the page say them ---------------------------------------------


def span(delta: datetime.timedelta) -> str:
    """A span of wall-clock time as days and hours, or hours and minutes under a day."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return gettext("%(days)d d %(hours)d h") % {"days": days, "hours": hours}
    if hours:
        return gettext("%(hours)d h %(minutes)d min") % {"hours": hours, "minutes": minutes}
    return gettext("%(minutes)d min") % {"minutes": minutes}


def business_time(seconds: int | None) -> str:
    """Business seconds (the desk's open hours) as hours and minutes; "" for none."""
    return "" if seconds is None else duration_words(seconds // 60)


@dataclass(frozen=True)
class Due:
    """A running clock: which one, when it is due, and how long is left (or how late it is)."""

    clock: str
    at: datetime.datetime
    now: datetime.datetime

    @property
    def overdue(self) -> bool:
        return self.at < self.now

    @property
    def words(self) -> str:
        reply = self.clock == SlaClock.RESPONSE
        if self.overdue:
            late = {"time": span(self.now - self.at)}
            return (gettext("Reply late by %(time)s") if reply else gettext("Solution late by %(time)s")) % late
        left = {"time": span(self.at - self.now)}
        return (gettext("Reply: %(time)s left") if reply else gettext("Solution: %(time)s left")) % left


def next_due(ticket: Ticket, *, now: datetime.datetime) -> Due | None:
    """The clock that runs out first (``NEXT_DUE``, on a loaded ticket)."""
    if ticket.status not in ACTIVE_STATUSES:
        return None
    if ticket.response_due_at is not None:
        return Due(SlaClock.RESPONSE, ticket.response_due_at, now)
    if ticket.paused_at is None and ticket.resolution_due_at is not None:
        return Due(SlaClock.RESOLUTION, ticket.resolution_due_at, now)
    return None


def due_badge(ticket: Ticket, *, now: datetime.datetime) -> SafeString:
    """The list's cell: which clock and when it is due, then how long is left (or how late it is)."""
    due = next_due(ticket, now=now)
    if due is None:
        if ticket.status == TicketStatus.WAITING:
            return format_html('<span class="quiet">{}</span>', gettext("Paused: waiting for the student"))
        return format_html("{}", "—")
    when = {"at": f"{timezone.localtime(due.at):%m-%d %H:%M}"}
    clock = gettext("reply %(at)s") if due.clock == SlaClock.RESPONSE else gettext("solution %(at)s")
    if due.overdue:
        state = format_html(
            '<span class="ticket-overdue">{}</span>', gettext("late by %(time)s") % {"time": span(now - due.at)}
        )
    else:
        state = format_html(
            '<span class="ticket-left">{}</span>', gettext("%(time)s left") % {"time": span(due.at - now)}
        )
    return format_html("{}<br>{}", clock % when, state)


def priority_badge(ticket: Ticket) -> SafeString:
    if ticket.priority == TicketPriority.URGENT:
        return format_html(
            '<span class="ticket-urgent" title="{}">{}</span>', ticket.urgent_reason, ticket.get_priority_display()
        )
    return format_html('<span class="quiet">{}</span>', ticket.get_priority_display())


def escalation_badge(ticket: Ticket, *, short: bool = False) -> SafeString:
    """The level, "L2 教学主管" (short: "L2", the whole level in its title), or a dash."""
    if not ticket.escalation_level:
        return format_html("{}", "—")
    label = ticket.get_escalation_level_display()
    return format_html(
        '<span class="ticket-escalated" title="{}">{}</span>', label, f"L{ticket.escalation_level}" if short else label
    )


# --- The four SOP steps ------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    number: int
    label: StrOrPromise
    state: str  # done, current, ahead or skipped
    at: datetime.datetime | None = None
    by: str = ""


def ticket_steps(ticket: Ticket) -> list[Step]:
    """Registered → assessed → resolved → reviewed and archived: each done (when, by whom), the
    one to do now, the ones ahead, or assessment skipped by a ticket resolved without one."""
    active = ticket.status in ACTIVE_STATUSES
    registered_by = str(ticket.registered_by) if ticket.registered_by else gettext("the student, personal center")
    if ticket.assessed_at:
        assessed = Step(2, _("Assess"), "done", ticket.assessed_at, str(ticket.assessed_by or ""))
    else:
        assessed = Step(2, _("Assess"), "current" if active else "skipped")
    if ticket.resolved_at and not active:
        resolved = Step(3, _("Resolve"), "done", ticket.resolved_at, str(ticket.resolved_by or ""))
    else:
        resolved = Step(3, _("Resolve"), "current" if ticket.assessed_at else "ahead")
    if ticket.status == TicketStatus.ARCHIVED:
        archived = Step(4, _("Review and archive"), "done", ticket.archived_at, str(ticket.archived_by or ""))
    else:
        archived = Step(4, _("Review and archive"), "current" if ticket.status == TicketStatus.RESOLVED else "ahead")
    return [Step(1, _("Register"), "done", ticket.created_at, registered_by), assessed, resolved, archived]


# --- The actions of the ticket page ----------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    """A form of the ticket page: who may use it, and the service it calls (returning what to say)."""

    key: str
    title: StrOrPromise
    form_class: type[TicketActionForm]
    permission: str
    run: Callable[[Any, Ticket, User], str]
    roles: tuple[str, ...] = ()  # only staff of these roles see the form (empty: any holder of the permission)


def _reply(form: ReplyForm, ticket: Ticket, actor: User) -> str:
    data = form.cleaned_data
    wait = bool(data.get("wait_for_student"))
    ticket_reply(
        actor=actor,
        ticket_id=ticket.pk,
        body=data["body"],
        internal=form.internal,
        wait_for_student=wait,
        attachments=data["attachments"],
    )
    if form.internal:
        return gettext("The internal note is saved; the student does not see it.")
    if wait:
        return gettext("The reply is sent to the student; the ticket waits for her answer.")
    return gettext("The reply is sent to the student.")


def _assign(form: AssignForm, ticket: Ticket, actor: User) -> str:
    owner = form.cleaned_data["owner"]
    ticket_assign(actor=actor, ticket_id=ticket.pk, owner_id=owner.pk)
    return gettext("%(name)s owns the ticket now.") % {"name": owner.name}


def _priority(form: PriorityForm, ticket: Ticket, actor: User) -> str:
    data = form.cleaned_data
    done = ticket_set_priority(actor=actor, ticket_id=ticket.pk, priority=data["priority"], reason=data["reason"])
    return gettext("The priority is %(priority)s.") % {"priority": done.get_priority_display()}


def _assess(form: AssessForm, ticket: Ticket, actor: User) -> str:
    data = form.cleaned_data
    ticket_assess(actor=actor, ticket_id=ticket.pk, finding=data["finding"], policy_point=data["policy_point"])
    return gettext("The assessment is saved.")


def _resolve(form: ResolveForm, ticket: Ticket, actor: User) -> str:
    data = form.cleaned_data
    refund = data["refund_request"]
    ticket_resolve(
        actor=actor,
        ticket_id=ticket.pk,
        solution_kind=data["solution_kind"],
        solution=data["solution"],
        refund_request_id=refund.pk if refund else None,
        compensation=data["compensation"],
    )
    return gettext("The ticket is resolved; the student is told the solution.")


def _archive(form: ArchiveForm, ticket: Ticket, actor: User) -> str:
    data = form.cleaned_data
    course, teacher = data["course"], data["teacher"]
    ticket_archive(
        actor=actor,
        ticket_id=ticket.pk,
        root_cause=data["root_cause"],
        course_id=course.pk if course else None,
        teacher_id=teacher.pk if teacher else None,
        note=data["note"],
    )
    return gettext("The ticket is reviewed and archived.")


def _file_refund(form: FileRefundForm, ticket: Ticket, actor: User) -> str:
    data = form.cleaned_data
    refund = ticket_file_refund(
        actor=actor,
        ticket_id=ticket.pk,
        order_id=data["order"].pk,
        reason=data["reason"],
        details=data["details"],
        consent_channel=data["consent_channel"],
        consent_at=data["consent_at"],
        consent_note=data["consent_note"],
        evidence=data["evidence"],
    )
    return gettext("Refund request %(no)s is filed for the student (%(amount)s yuan) and linked to the ticket.") % {
        "no": refund.request_no,
        "amount": refund.approved_amount,
    }


ACTIONS: dict[str, Action] = {
    action.key: action
    for action in (
        Action(rules.REPLY, _("Reply or add an internal note"), ReplyForm, HANDLE_PERMISSION, _reply),
        Action(rules.ASSIGN, _("Owner"), AssignForm, HANDLE_PERMISSION, _assign),
        Action(rules.PRIORITY, _("Priority"), PriorityForm, HANDLE_PERMISSION, _priority),
        Action(rules.ASSESS, _("Step 2: assess"), AssessForm, HANDLE_PERMISSION, _assess),
        Action(rules.RESOLVE, _("Step 3: resolve"), ResolveForm, HANDLE_PERMISSION, _resolve),
        Action(rules.ARCHIVE, _("Step 4: review and archive"), ArchiveForm, ARCHIVE_PERMISSION, _archive),
        Action(
            rules.FILE_REFUND,
            _("Refund desk: file a refund request for the student"),
            FileRefundForm,
            HANDLE_PERMISSION,
            _file_refund,
            roles=(StaffRole.SERVICE,),
        ),
    )
}


def page_actions(ticket: Ticket, user: Any) -> list[str]:
    """The forms the page shows: allowed by the ticket's status and held by the user."""
    staff = getattr(user, "staff", None)
    return [
        key
        for key, action in ACTIONS.items()
        if user.has_perm(action.permission)
        and rules.state_refusal(ticket.status, key) is None
        and (not action.roles or (staff is not None and staff.role in action.roles))
    ]


def refund_desk_link(ticket: Ticket, user: Any) -> dict[str, Any] | None:
    """Customer service's direct approval of the ticket's refund request, while it waits for one
    (the decision page says whether the amount is within the campus's limit, and why not)."""
    staff = getattr(user, "staff", None)
    refund = ticket.refund_request
    if staff is None or staff.role != StaffRole.SERVICE or refund is None or refund.status not in PENDING_STATES:
        return None
    limit = approval_settings_for(campus=ticket.campus_id).service_limit
    return {
        "url": reverse("admin:refunds_refundrequest_decide", args=[refund.pk, DIRECT]),
        "limit": limit,
        "within": refund.approved_amount <= limit,
    }


# --- The list's filters ------------------------------------------------------------------------


class TicketStatusFilter(admin.SimpleListFilter):
    """The active tickets (waiting for us or for the student) unless another status is chosen."""

    title = _("status")
    parameter_name = "status"
    ALL = "all"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, StrOrPromise]]:
        return [*TicketStatus.choices, (self.ALL, _("All"))]

    def choices(self, changelist: Any) -> Any:
        value = self.value()
        yield {
            "selected": value is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": _("Active (waiting for us or the student)"),
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": value == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> QuerySet[Ticket]:
        value = self.value()
        if value is None:
            return queryset.filter(status__in=ACTIVE_STATUSES)
        if value in TicketStatus.values:
            return queryset.filter(status=value)
        return queryset


class OwnerFilter(admin.SimpleListFilter):
    title = _("owner")
    parameter_name = "owner"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, StrOrPromise]]:
        return [("mine", _("Mine")), ("nobody", _("Nobody yet"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> QuerySet[Ticket]:
        match self.value():
            case "mine":
                user_id = request.user.pk
                return queryset.filter(owner__user_id=user_id) if user_id is not None else queryset.none()
            case "nobody":
                return queryset.filter(owner__isnull=True)
        return queryset


class EscalatedFilter(admin.SimpleListFilter):
    title = _("escalation")
    parameter_name = "escalated"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, StrOrPromise]]:
        return [
            ("yes", _("Escalated")),
            *((str(level), label) for level, label in EscalationLevel.choices),
            ("no", _("Not escalated")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> QuerySet[Ticket]:
        value = self.value()
        if value == "yes":
            return queryset.filter(escalation_level__gt=0)
        if value == "no":
            return queryset.filter(escalation_level=0)
        if value and value.isdigit():
            return queryset.filter(escalation_level=int(value))
        return queryset


# --- The admin --------------------------------------------------------------------------------


@admin.register(Ticket)
class TicketAdmin(CampusScopedAdminMixin, SimpleHistoryAdmin):
    list_display = (
        "number",
        "student_column",
        "category_column",
        "status_column",
        "due_column",
        "escalation_column",
        "created",
    )
    list_display_links = ("number",)
    list_filter = (
        TicketStatusFilter,
        "category",
        "priority",
        OwnerFilter,
        EscalatedFilter,
        HeadOfficeCampusFilter,
    )
    list_select_related = ("student__user", "owner__user", "campus")
    list_per_page = 50
    show_full_result_count = False
    search_fields = ("ticket_no", "student__student_no", "student__user__phone", "student__user__name", "subject")
    search_help_text = _("Ticket number, the student's name, number or phone, or the subject.")
    change_list_template = "admin/servicedesk/ticket/change_list.html"

    class Media:
        css = DESK_CSS

    # --- Permissions: tickets change only through the page's forms (the services).

    def has_change_permission(self, request: HttpRequest, obj: Ticket | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Ticket | None = None) -> bool:
        return False

    # --- The list

    def get_queryset(self, request: HttpRequest) -> QuerySet[Ticket]:
        return super().get_queryset(request).annotate(next_due=NEXT_DUE)

    def get_ordering(self, request: HttpRequest) -> Any:
        # The newest first among equals (the primary key follows the opening; sorting by it leaves
        # the "opened" column unmarked, and narrower).
        return (F("next_due").asc(nulls_last=True), "-pk")

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        context = {
            "title": capfirst(self.opts.verbose_name_plural),
            "can_register": self.has_add_permission(request),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=context)

    def get_list_display(self, request: HttpRequest) -> tuple[str, ...]:
        # A campus's staff see their campus only; head office sees which campus each ticket is of.
        if visible_campus_ids(request.user) is None:
            return (*self.list_display, "campus")
        return tuple(self.list_display)

    # Two short lines a cell, so the list reads on a 1280 px screen beside the admin's menu and filters.

    @admin.display(description=_("ticket"), ordering="ticket_no")
    def number(self, obj: Ticket) -> SafeString:
        return format_html(
            '{}<br><span class="quiet ticket-subject" title="{}">{}</span>', obj.ticket_no, obj.subject, obj.subject
        )

    @admin.display(description=_("student"), ordering="student__user__name")
    def student_column(self, obj: Ticket) -> SafeString:
        return format_html('{}<br><span class="quiet">{}</span>', obj.student.name, obj.student.student_no)

    @admin.display(description=_("category · priority"), ordering="category")
    def category_column(self, obj: Ticket) -> SafeString:
        return format_html("{}<br>{}", obj.get_category_display(), priority_badge(obj))

    @admin.display(description=_("status · owner"), ordering="status")
    def status_column(self, obj: Ticket) -> SafeString:
        owner = obj.owner.name if obj.owner is not None else gettext("Nobody yet")
        return format_html('{}<br><span class="quiet">{}</span>', obj.get_status_display(), owner)

    @admin.display(description=_("reply due / time left"), ordering="next_due")
    def due_column(self, obj: Ticket) -> SafeString:
        return due_badge(obj, now=timezone.now())

    @admin.display(description=_("escalation"), ordering="escalation_level")
    def escalation_column(self, obj: Ticket) -> SafeString:
        return escalation_badge(obj, short=True)

    @admin.display(description=_("ticket opened"), ordering="created_at")
    def created(self, obj: Ticket) -> SafeString:
        local = timezone.localtime(obj.created_at)
        day = f"{local:%m-%d}" if local.year == timezone.localdate().year else f"{local:%Y-%m-%d}"
        return format_html('{}<br><span class="quiet">{}</span>', day, f"{local:%H:%M}")

    # --- The ticket page and its forms

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        own = [
            path(f"<path:object_id>/{key}/", view(self.action_view), {"action": key}, name=f"servicedesk_ticket_{key}")
            for key in ACTIONS
        ]
        return own + super().get_urls()

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponseBase:
        """The ticket page (read only; its forms post to the action URLs)."""
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET"])
        return self.ticket_page(request, self._ticket(request, object_id))

    def action_view(self, request: HttpRequest, object_id: str, action: str) -> HttpResponseBase:
        """One form of the page, through its service; the page again, with the message, if refused."""
        spec = ACTIONS[action]
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_view_permission(request):
            raise PermissionDenied
        actor = acting_user_with(request, spec.permission)
        ticket = self._ticket(request, object_id)
        form = spec.form_class(request.POST, request.FILES, ticket=ticket, auto_id=f"id_{action}_%s")
        if form.is_valid():
            try:
                done = spec.run(form, ticket, actor)
            except TicketError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, done)
                return redirect("admin:servicedesk_ticket_change", ticket.pk)
        else:
            messages.error(request, gettext("Please correct the errors below."))
        # Refused: the page as it is now (someone may have acted meanwhile), with what was typed.
        return self.ticket_page(request, self._ticket(request, object_id), bound={action: form})

    def _ticket(self, request: HttpRequest, object_id: str) -> Ticket:
        """The ticket with everything its page shows: 403 without the permission to see tickets,
        404 for a ticket outside the user's campuses."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        pk = unquote(object_id)
        ticket = ticket_page_for_staff(user=request.user, ticket_id=int(pk)) if pk.isdigit() else None  # type: ignore[arg-type]  # staff: a User
        if ticket is None:
            raise Http404
        return ticket

    def ticket_page(
        self, request: HttpRequest, ticket: Ticket, *, bound: dict[str, TicketActionForm] | None = None
    ) -> TemplateResponse:
        now = timezone.now()
        bound = bound or {}
        page_forms = {
            key: bound.get(key) or ACTIONS[key].form_class(ticket=ticket, auto_id=f"id_{key}_%s")
            for key in page_actions(ticket, request.user)
        }
        media = self.media
        for form in page_forms.values():
            media += form.media
        resolution_due = (
            Due(SlaClock.RESOLUTION, ticket.resolution_due_at, now)
            if ticket.status in ACTIVE_STATUSES and ticket.paused_at is None and ticket.resolution_due_at
            else None
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Ticket %(no)s") % {"no": ticket.ticket_no},
            "subtitle": ticket.subject,
            "original": ticket,
            "ticket": ticket,
            "registered": ticket.channel != TicketChannel.PORTAL,
            "priority": priority_badge(ticket),
            "escalation": escalation_badge(ticket),
            "reply_due": (
                Due(SlaClock.RESPONSE, ticket.response_due_at, now) if ticket.response_due_at is not None else None
            ),
            "resolution_due": resolution_due,
            "paused_total": business_time(ticket.paused_seconds) if ticket.paused_seconds else "",
            "first_response_time": business_time(ticket.first_response_seconds),
            "resolution_time": business_time(ticket.resolution_seconds),
            "steps": ticket_steps(ticket),
            "refund_desk": refund_desk_link(ticket, request.user),
            "conversation": ticket.conversation,  # type: ignore[attr-defined]  # ticket_page_for_staff's prefetch
            "escalations": ticket.escalation_rows,  # type: ignore[attr-defined]
            "forms": {key: (ACTIONS[key], form) for key, form in page_forms.items()},
            "media": media,
        }
        return TemplateResponse(request, "admin/servicedesk/ticket/page.html", context)

    # --- A contact registered for a student

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponseBase:
        """A phone call, WeChat message, visit or e-mail registered as the student's ticket, its
        clocks starting when she contacted us (``ticket_register``); then the ticket's page."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        actor = acting_user_with(request, REGISTER_PERMISSION)
        if request.method == "POST":
            form = RegisterForm(request.POST, request.FILES, user=actor, admin_site=self.admin_site)
            if form.is_valid():
                try:
                    ticket = ticket_register(actor=actor, **form.service_arguments())
                except TicketError as exc:
                    form.add_error(exc.code if exc.code in form.fields else None, exc.message)
                else:
                    messages.success(
                        request,
                        gettext("Ticket %(no)s is registered for %(student)s.")
                        % {
                            "no": ticket.ticket_no,
                            "student": ticket.student.name,
                        },
                    )
                    return redirect("admin:servicedesk_ticket_change", ticket.pk)
        else:
            student = request.GET.get("student", "")
            form = RegisterForm(
                initial={"student": student} if student.isdigit() else {}, user=actor, admin_site=self.admin_site
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Register a contact for a student"),
            "form": form,
            "media": self.media + form.media,
            "changelist_url": reverse("admin:servicedesk_ticket_changelist"),
        }
        return TemplateResponse(request, "admin/servicedesk/ticket/register.html", context)
