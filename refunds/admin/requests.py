"""Refund requests in the admin: the campus's requests, each request's page with the decision
support and the decision buttons, and the read-only records of the lifecycle.

Nothing here edits a request's status or amounts by hand: the buttons lead to confirmation pages
(``decisions.decide_view``) that call the services in ``refunds.services``. Every list and page
is limited to the campuses the user may see; another campus's request answers 404 everywhere.

URLs (names under the ``admin`` namespace):

- ``refunds_refundrequest_changelist``  /admin/refunds/refundrequest/
- ``refunds_refundrequest_change``      /admin/refunds/refundrequest/<id>/change/  (the request page)
- ``refunds_refundrequest_decide``      /admin/refunds/refundrequest/<id>/decide/<approve|reject|return|adjust>/

Apps above refunds add their own pieces to the request page through the extension point below
(``request_page_extend``): views of one request served under the request's URL (finance's dispute
archive, ``refunds_refundrequest_archive`` at ``<id>/archive.zip``) and panels shown beside the
decision buttons (finance's archive and e-receipt links) or at the top of the decision panel
(the course exchange's box), and the words for requests of a kind they own (a course exchange's
difference and direction: ``RequestKindWords``). refunds itself imports none of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from schoolops.admin_mixins import ReadOnlyAdminMixin
from schoolops.scoping import CampusScopedAdminMixin

from ..models import (
    PENDING_STATES,
    ApprovalStep,
    ApprovalTier,
    RefundEvent,
    RefundEvidence,
    RefundRequest,
    RefundStatus,
    RefundTransition,
    RequestKind,
    StepDecision,
)
from ..routing import route_step_words
from ..selectors import next_in_queue, refund_request_decision_context
from .decisions import APPROVE, DECISIONS, approve_outcome, decide_view, decision_options
from .lists import (
    REQUEST_KINDS,
    AgeFilter,
    AmountBandFilter,
    BoundedCountMixin,
    RefundListMixin,
    RequestKindWords,
    RiskFilter,
    VisibleCampusFilter,
    amount_words,
    is_flagged,
    kind_badge,
    kinds_related,
    staff_of,
)

# What the request page reads of a request besides its own row, in the one query that loads it.
REQUEST_PAGE_RELATED = (
    "student__user",
    "student__high_risk_by",
    "order__course",
    "order__enrollment",
    "campus",
    "quote__order",
)

APPROVALS_CSS = {"all": ["css/admin_approvals.css"]}

# The lookups the list accepts in its query string besides its filters': the drill-down of the
# analytics dashboard (a period of submission narrowed by campus, course, homeroom teacher, payment
# channel or reason). The campus scoping of ``get_queryset`` still applies on top.
DRILL_DOWN_LOOKUPS = frozenset(
    {
        "submitted_at__gte",
        "submitted_at__lt",
        "campus__id__exact",
        "order__course__id__exact",
        "order__enrollment__homeroom_teacher__id__exact",
        "order__channel__exact",
        "reason__exact",
    }
)


# --- What the apps above refunds add to a request's page -----------------------------------------
#
# refunds sits below them and imports none: they call ``request_page_extend`` when their admin
# loads (finance: ``finance/admin/refund_requests.py``), before the first URL is resolved.


@dataclass(frozen=True)
class RequestPageView:
    """A view of one request at ``<id>/<route>``, named ``admin:refunds_refundrequest_<name>``.

    The admin answers 403 unless the user may see requests and ``permitted(request)``, 404 for a
    request outside the user's campuses, and otherwise calls ``view(request, obj)``."""

    route: str
    name: str
    view: Callable[[HttpRequest, RefundRequest], HttpResponseBase]
    permitted: Callable[[HttpRequest], bool]


PANEL_BELOW, PANEL_TOP = "below", "top"  # where a panel goes in the decision panel


@dataclass(frozen=True)
class RequestPagePanel:
    """A piece of the request page's decision panel, below the decision buttons (``place``
    ``PANEL_BELOW``) or at its top, above the status (``PANEL_TOP``).

    ``context(request, obj)`` returns what ``template`` reads; it is merged into the page's context
    (so its keys are the panel's own), and an empty dict leaves the piece out."""

    template: str
    context: Callable[[HttpRequest, RefundRequest], dict[str, Any]]
    place: str = PANEL_BELOW


REQUEST_PAGE_VIEWS: list[RequestPageView] = []
REQUEST_PAGE_PANELS: list[RequestPagePanel] = []


def request_page_extend(
    *,
    views: Iterable[RequestPageView] = (),
    panels: Iterable[RequestPagePanel] = (),
    kinds: Iterable[RequestKindWords] = (),
) -> None:
    """Add views and panels to every request's page, in the order given, and the words for the
    requests of a kind (one per kind, the last one given kept); adding one twice adds it once."""
    for view in views:
        if view not in REQUEST_PAGE_VIEWS:
            REQUEST_PAGE_VIEWS.append(view)
    for panel in panels:
        if panel not in REQUEST_PAGE_PANELS:
            REQUEST_PAGE_PANELS.append(panel)
    for words in kinds:
        REQUEST_KINDS[words.kind] = words


@admin.register(RefundRequest)
class RefundRequestAdmin(RefundListMixin, ReadOnlyAdminMixin, CampusScopedAdminMixin, SimpleHistoryAdmin):
    list_display = (
        "request_no",
        "kind_column",
        "student_name",
        "course",
        "reason",
        "amount",
        "status",
        "risk",
        "submitted_at",
        "campus",
    )
    list_filter = (
        "status",
        "kind",
        "reason",
        VisibleCampusFilter,
        AmountBandFilter,
        RiskFilter,
        AgeFilter,
        ("submitted_at", admin.DateFieldListFilter),
    )
    list_select_related = ("student__user", "student__high_risk_by", "order__course", "campus")
    fieldsets = (
        (
            _("Request"),
            {
                "fields": (
                    "request_no",
                    "kind",
                    "status",
                    "student",
                    "order",
                    "campus",
                    "reason",
                    "details",
                    "submitted_at",
                    "decided_at",
                )
            },
        ),
        (_("Amount"), {"fields": ("quote", "requested_amount", "approved_amount", "amount_confirmed")}),
        (
            _("Route"),
            {"fields": ("route_tiers", "route_step", "returned_tier", "rejected_tier", "risk_flags")},
        ),
        (_("Appeal"), {"fields": ("appealed_at", "appeal_reason", "updated_at")}),
    )
    readonly_fields = (
        "request_no",
        "kind",
        "order",
        "student",
        "campus",
        "status",
        "reason",
        "details",
        "quote",
        "requested_amount",
        "approved_amount",
        "amount_confirmed",
        "route_tiers",
        "route_step",
        "returned_tier",
        "rejected_tier",
        "appealed_at",
        "appeal_reason",
        "risk_flags",
        "submitted_at",
        "decided_at",
        "updated_at",
    )

    class Media:
        css = APPROVALS_CSS

    def get_fieldsets(self, request: HttpRequest, obj: RefundRequest | None = None) -> Any:
        """Only what applies to this request: "set by the approver" for a by-contract amount, the
        appeal's fields for an appealed request."""
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        by_contract = obj.quote_id is not None and obj.quote.needs_approver_amount
        shown = []
        for name, options in fieldsets:
            fields = tuple(f for f in options["fields"] if by_contract or f != "amount_confirmed")
            if "appealed_at" in fields and obj.appealed_at is None:
                continue
            shown.append((name, {**options, "fields": fields}))
        return shown

    def get_urls(self) -> list[URLPattern]:
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        decide = self.admin_site.admin_view(self.decide_view)
        page_view = self.admin_site.admin_view(self.page_view)
        return [
            path("<path:object_id>/decide/<str:action>/", decide, name=f"{prefix}_decide"),
            *(
                path(f"<path:object_id>/{page.route}", page_view, {"page": page}, name=f"{prefix}_{page.name}")
                for page in REQUEST_PAGE_VIEWS
            ),
            *super().get_urls(),
        ]

    def decide_view(self, request: HttpRequest, object_id: str, action: str) -> HttpResponseBase:
        return decide_view(self, request, object_id, action)

    def page_view(self, request: HttpRequest, object_id: str, page: RequestPageView) -> HttpResponseBase:
        """A view another app adds (``RequestPageView``): 403 before 404, as on every page of a request."""
        if not self.has_view_permission(request) or not page.permitted(request):
            raise PermissionDenied
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404
        return page.view(request, obj)

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        return lookup in DRILL_DOWN_LOOKUPS or super().lookup_allowed(lookup, value, request)

    def get_queryset(self, request: HttpRequest) -> QuerySet[RefundRequest]:
        staff_of(request)  # once, cached on the user: the campus scoping reads it
        queryset = super().get_queryset(request)
        related = kinds_related()  # what the amount column says of an exchange, joined to the rows
        # Named with the list's own: the changelist skips ``list_select_related`` once any is set.
        return queryset.select_related(*self.list_select_related, *related) if related else queryset

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponseBase:
        # Without the permission to see requests: 403, as on every other page of the request
        # (the campus check below would answer 404 first).
        if not self.has_view_permission(request):
            raise PermissionDenied
        return super().history_view(request, object_id, extra_context=extra_context)

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> RefundRequest | None:
        """The request with what its page shows loaded in the same query; None outside the user's campuses."""
        queryset = self.get_queryset(request).select_related(*REQUEST_PAGE_RELATED)
        field = self.opts.pk if from_field is None else self.opts.get_field(from_field)
        try:
            return queryset.get(**{field.name: field.to_python(object_id)})
        except (RefundRequest.DoesNotExist, ValidationError, ValueError):
            return None

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: RefundRequest | None = None,
    ) -> HttpResponse:
        if obj is not None:
            context.update(self.review_context(request, obj))
            if obj.kind == RequestKind.EXCHANGE:
                context["title"] = gettext("Course exchange request")
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def review_context(self, request: HttpRequest, obj: RefundRequest) -> dict[str, Any]:
        """The decision support panels and the buttons of the request page."""
        now = timezone.now()
        review = refund_request_decision_context(request=obj, now=now)
        options = decision_options(
            request_obj=obj, staff=staff_of(request), steps=review.steps, on=timezone.localdate(now)
        )
        buttons = [
            (DECISIONS[key], reverse("admin:refunds_refundrequest_decide", args=[obj.pk, key]))
            for key in DECISIONS
            if key in options.actions
        ]
        next_item = None
        if not buttons and staff_of(request) is not None:
            # Decided (or not hers to decide): offer the next request of her queue.
            next_item = next_in_queue(user=request.user, on=timezone.localdate(now), after=obj)
        rejected_steps = [step for step in review.steps if step.decision == StepDecision.REJECTED]
        return {
            "review": review,
            "appeal_rejection": rejected_steps[-1] if obj.appealed_at and rejected_steps else None,
            "next_in_queue": next_item,
            "decision_buttons": buttons,
            "decision_blocked": options.blocked,
            "pending_step": options.step,
            "as_delegate": options.as_delegate,
            "approve_outcome": approve_outcome(obj) if APPROVE in options.actions else "",
            # A refund's amount, or an exchange's difference and which way it goes.
            "amount_words": amount_words(obj),
            "route_rows": _route_rows(obj),
            "flagged": is_flagged(obj),
            "now": now,
            **_panels_context(request, obj),
        }

    @admin.display(description=_("approval route"))
    def route_tiers(self, obj: RefundRequest) -> str:
        """班主任 → 自动审核 → 财务, not the stored codes."""
        return " → ".join(str(ApprovalTier(tier).label) for tier in obj.route)

    @admin.display(description=_("current approval step"))
    def route_step(self, obj: RefundRequest) -> str:
        if obj.current_tier is None:
            return "—"
        return route_step_words(route=obj.route, position=obj.route_position)

    @admin.display(description=_("student"), ordering="student__user__name")
    def student_name(self, obj: RefundRequest) -> str:
        return obj.student.name

    @admin.display(description=_("course"))
    def course(self, obj: RefundRequest) -> str:
        return obj.order.course.name

    @admin.display(description=_("kind"), ordering="kind")
    def kind_column(self, obj: RefundRequest) -> str:
        return kind_badge(obj)

    @admin.display(description=_("amount"), ordering="approved_amount")
    def amount(self, obj: RefundRequest) -> str:
        """A refund's amount; an exchange's difference with its direction (退还 / 补交 / 无差额)."""
        return amount_words(obj)

    @admin.display(description=_("risk"))
    def risk(self, obj: RefundRequest) -> str:
        return risk_badge(obj)


def risk_badge(obj: RefundRequest) -> str:
    """A warning badge for a flagged request, its findings in the tooltip; empty otherwise."""
    if not is_flagged(obj):
        return ""
    reasons = [str(flag) for flag in obj.risk_flags]
    if obj.student.high_risk:
        reasons.append(obj.student.high_risk_summary())
    return format_html('<span class="risk-flag" title="{}">⚠ {}</span>', "\n".join(reasons), _("Flagged"))


def _panels_context(request: HttpRequest, obj: RefundRequest) -> dict[str, Any]:
    """What the added panels read, and the templates of those that show: ``page_panels_top`` at
    the top of the decision panel, ``page_panels`` below its buttons."""
    context: dict[str, Any] = {}
    templates: dict[str, list[str]] = {PANEL_TOP: [], PANEL_BELOW: []}
    for panel in REQUEST_PAGE_PANELS:
        extra = panel.context(request, obj)
        if extra:
            context.update(extra)
            templates[PANEL_TOP if panel.place == PANEL_TOP else PANEL_BELOW].append(panel.template)
    return {**context, "page_panels_top": templates[PANEL_TOP], "page_panels": templates[PANEL_BELOW]}


ROUTE_STATE_AT_POSITION = {
    **{status: "current" for status in PENDING_STATES},
    RefundStatus.NEEDS_INFO: "returned",
    RefundStatus.REJECTED: "rejected",
    RefundStatus.CANCELLED: "stopped",
}


def _route_rows(obj: RefundRequest) -> list[dict[str, Any]]:
    """The route's tiers, each done, current (or returned, rejected, stopped there) or still ahead."""
    rows = []
    still_open = obj.status in (*PENDING_STATES, RefundStatus.NEEDS_INFO)
    for position, tier in enumerate(obj.route):
        if position < obj.route_position:
            state = "done"
        elif position == obj.route_position:
            state = ROUTE_STATE_AT_POSITION.get(obj.status, "done")
        else:
            state = "ahead" if still_open else "not_reached"
        rows.append({"position": position + 1, "tier": ApprovalTier(tier).label, "state": state})
    return rows


@admin.register(ApprovalStep)
class ApprovalStepAdmin(BoundedCountMixin, ReadOnlyAdminMixin, CampusScopedAdminMixin, admin.ModelAdmin):
    campus_field = "request__campus"  # the mixin's default ("campus") is no field of these rows
    list_display = ("request", "tier", "assignee", "decision", "decided_by", "due_at", "escalated_to")
    list_filter = ("tier", "decision")
    search_fields = ("request__request_no",)
    # A staff member's name reads her user and campus.
    list_select_related = (
        "request",
        "assignee__user",
        "assignee__campus",
        "decided_by__user",
        "decided_by__campus",
        "escalated_to__user",
        "escalated_to__campus",
    )


@admin.register(RefundTransition)
class RefundTransitionAdmin(BoundedCountMixin, ReadOnlyAdminMixin, CampusScopedAdminMixin, admin.ModelAdmin):
    campus_field = "request__campus"  # the mixin's default ("campus") is no field of these rows
    list_display = ("created_at", "request", "name", "actor", "from_status", "to_status")
    list_filter = ("name", "to_status")
    search_fields = ("request__request_no",)
    list_select_related = ("request", "actor")


@admin.register(RefundEvent)
class RefundEventAdmin(BoundedCountMixin, ReadOnlyAdminMixin, CampusScopedAdminMixin, admin.ModelAdmin):
    campus_field = "request__campus"  # the mixin's default ("campus") is no field of these rows
    list_display = ("created_at", "request", "kind", "actor", "handled_at")
    list_filter = ("kind",)
    search_fields = ("request__request_no",)
    list_select_related = ("request", "actor")


@admin.register(RefundEvidence)
class RefundEvidenceAdmin(BoundedCountMixin, ReadOnlyAdminMixin, CampusScopedAdminMixin, admin.ModelAdmin):
    campus_field = "request__campus"  # the mixin's default ("campus") is no field of these rows
    list_display = ("original_name", "request", "content_type", "size", "uploaded_at")
    search_fields = ("request__request_no",)
    list_select_related = ("request",)
    exclude = ("file",)  # served only through a permission-checked view, never a direct link
