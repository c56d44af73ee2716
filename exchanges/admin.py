"""Course exchanges in the admin: the exchange policies (operations edit them, everyone reads
them), the exchanges (read only, limited to the user's campuses), the exchange desk (customer
service files an exchange for a student: the exchange list's "add" page), and what an exchange
request's decision page shows of its exchange.

How the refund request's pages learn about exchanges: refunds sits below exchanges and imports
none of it, so this module registers, through refunds' extension point
(``refunds.admin.requests.request_page_extend``), the box at the top of the decision panel
(``review_box_context``, rendered from ``admin/exchanges/exchange/review_box.html``) and the
words for an exchange request's money in the lists and on the page (``EXCHANGE_WORDS``: the
difference with its direction, and what the last approval does). A registry rather than reading
``request.exchange`` in refunds' templates: the words are this app's, in one place, and refunds
keeps a single way for the apps above it to add to its pages (finance's links use the same).

URLs (names under the ``admin`` namespace):

- ``exchanges_exchangepolicy_changelist`` / ``_change`` / ``_add`` / ``_history``
- ``exchanges_exchange_changelist``  /admin/exchanges/exchange/
- ``exchanges_exchange_change``      /admin/exchanges/exchange/<id>/change/  (read only)
- ``exchanges_exchange_add``         /admin/exchanges/exchange/add/  (the exchange desk;
  ``?student=<id>&order=<id>`` chooses them beforehand, as the ticket page's link does)
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.db import models
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from orders.models import Course
from refunds.admin.lists import RequestKindWords
from refunds.admin.requests import PANEL_TOP, RequestPagePanel, request_page_extend
from refunds.models import RefundRequest, RequestKind
from schoolops.admin_mixins import acting_user_with
from schoolops.models import StaffRole
from schoolops.scoping import CampusScopedAdminMixin, HeadOfficeCampusFilter, visible_campus_ids

from .admin_selectors import exchange_for_review
from .calc import ExchangeQuote, Method
from .desk import exchange_submit_for_student
from .forms import CHOOSE, FILE, ExchangeDeskForm, quote_key
from .models import Exchange, ExchangePolicy
from .services import ExchangeError, exchange_quote

FILE_PERMISSION = "exchanges.add_exchange"  # the exchange desk (customer service)
ADMIN_CSS = {"all": ["css/admin_approvals.css"]}  # .money, the exchange box


# --- What an exchange's money is, in words ---------------------------------------------------------


def _yuan(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def difference_words(exchange: Exchange) -> str:
    """退还 ¥x / 补交 ¥x / 无差额."""
    if exchange.refund_amount > 0:
        return gettext("To refund: ¥%(amount)s") % {"amount": _yuan(exchange.refund_amount)}
    if exchange.pay_amount > 0:
        return gettext("To pay: ¥%(amount)s") % {"amount": _yuan(exchange.pay_amount)}
    return gettext("No difference")


def difference_explanation(exchange: Exchange) -> str:
    if exchange.refund_amount > 0:
        return gettext(
            "The value carried over is more than the new course costs: the rest goes back to the student the way "
            "she paid."
        )
    if exchange.pay_amount > 0:
        return gettext(
            "The new course costs more than the value carried over: the student pays the rest online after approval."
        )
    return gettext("The value carried over pays the new course exactly.")


def approval_outcome(exchange: Exchange) -> str:
    """What the last approval of the exchange's request does (``exchanges.services._approved``)."""
    if exchange.refund_amount > 0:
        return gettext(
            "The exchange is approved: the difference of ¥%(amount)s is refunded through the original payment "
            "channel right away; once it has left, the old order closes as exchanged and the new course opens."
        ) % {"amount": _yuan(exchange.refund_amount)}
    if exchange.pay_amount > 0:
        return gettext(
            "The exchange is approved: the student is asked to pay the difference of ¥%(amount)s online within "
            "%(hours)d hours; the new course opens once she has paid. Unpaid by then, the exchange lapses and "
            "nothing changes."
        ) % {"amount": _yuan(exchange.pay_amount), "hours": exchange.policy.pay_within_hours}
    return gettext(
        "The exchange is approved and completed at once: the old order closes as exchanged and the new course "
        "opens; no money moves."
    )


def method_words(method: str) -> str:
    if method == Method.WINDOW:
        return gettext("Inside the exchange window: the unconsumed value is carried over, without handling fee.")
    return gettext("After the exchange window: what a refund would give now is carried over.")


def _exchange_of(request_obj: RefundRequest) -> Exchange | None:
    # Loaded with the request by the lists and the request page (``RequestKindWords.related``).
    return getattr(request_obj, "exchange", None)


def _request_amount(request_obj: RefundRequest) -> str:
    exchange = _exchange_of(request_obj)
    return difference_words(exchange) if exchange is not None else f"¥{request_obj.approved_amount:,.2f}"


def _request_outcome(request_obj: RefundRequest) -> str:
    exchange = _exchange_of(request_obj)
    return approval_outcome(exchange) if exchange is not None else ""


EXCHANGE_WORDS = RequestKindWords(
    kind=RequestKind.EXCHANGE, related=("exchange",), amount=_request_amount, outcome=_request_outcome
)


# --- The box on the exchange request's decision page ---------------------------------------------


@dataclass(frozen=True)
class ExchangeLineRow:
    label: str
    amount: Decimal
    formula: str
    explanation: str


@dataclass(frozen=True)
class ExchangeBox:
    """What the decision panel says of an exchange: from which course to which, the calculation as
    the student confirmed it, the difference and which way it goes, what approving does."""

    exchange: Exchange
    lines: list[ExchangeLineRow]
    method: str
    difference: str
    explanation: str
    outcome: str
    url: str  # the exchange's own page, for those who may see it ("" otherwise)


def exchange_lines(exchange: Exchange) -> list[ExchangeLineRow]:
    """The calculation's lines as stored (``calc.ExchangeLine.as_dict``), amounts as Decimals."""
    return [
        ExchangeLineRow(
            label=str(line.get("label", "")),
            amount=Decimal(str(line.get("amount", "0"))),
            formula=str(line.get("formula", "")),
            explanation=str(line.get("explanation", "")),
        )
        for line in exchange.lines or []
    ]


def review_box_context(request: HttpRequest, obj: RefundRequest) -> dict[str, Any]:
    """The exchange box of an exchange request's decision panel; nothing for a refund (no query)."""
    if obj.kind != RequestKind.EXCHANGE:
        return {}
    exchange = exchange_for_review(request_id=obj.pk)
    if exchange is None:
        return {}
    may_open = request.user.has_perm("exchanges.view_exchange")
    box = ExchangeBox(
        exchange=exchange,
        lines=exchange_lines(exchange),
        method=method_words(exchange.method),
        difference=difference_words(exchange),
        explanation=difference_explanation(exchange),
        outcome=approval_outcome(exchange),
        url=reverse("admin:exchanges_exchange_change", args=[exchange.pk]) if may_open else "",
    )
    return {"exchange_box": box}


request_page_extend(
    panels=[RequestPagePanel("admin/exchanges/exchange/review_box.html", review_box_context, place=PANEL_TOP)],
    kinds=[EXCHANGE_WORDS],
)


# --- Exchange policies -------------------------------------------------------------------------


@admin.register(ExchangePolicy)
class ExchangePolicyAdmin(SimpleHistoryAdmin):
    """Operations keep the policies (a saved change is a new version; exchanges keep the version
    and terms they were made under); every staff member may read them."""

    list_display = [
        "name",
        "course_type",
        "is_active",
        "window",
        "allow_after_window",
        "max_exchanges",
        "exchange_fee",
        "pay_within_hours",
        "version",
    ]
    list_filter = ["is_active", "course_type"]
    search_fields = ["name"]
    readonly_fields = ["version", "updated_at"]
    fieldsets = [
        (
            _("Which courses"),
            {
                "fields": [
                    "name",
                    ("course_type", "is_active"),
                    ("target_campus", "target_type"),
                    "max_exchanges",
                    "description",
                ],
                "description": _(
                    "Orders of courses of this type may be exchanged for the courses chosen here, "
                    "so many times along the chain of exchanges."
                ),
            },
        ),
        (
            _("The window"),
            {
                "fields": ["window_days", "window_anchor", "window_progress_ceiling", "allow_after_window"],
                "description": _(
                    "Inside the window the whole unconsumed value moves to the new course; after it, what a "
                    "refund would give at that moment (or no exchange at all)."
                ),
            },
        ),
        (
            _("The value carried over"),
            {
                "fields": ["exchange_fee", "carry_progress"],
                "description": _("What comes off the value, and whether the lessons done count in the new course."),
            },
        ),
        (
            _("The difference"),
            {
                "fields": ["prorate_started_target", "pay_within_hours"],
                "description": _(
                    "What the new course costs; the value above it is refunded, below it the student pays the rest."
                ),
            },
        ),
        (_("Version"), {"fields": ["version", "updated_at"]}),
    ]

    @admin.display(description=_("window"), ordering="window_days")
    def window(self, obj: ExchangePolicy) -> str:
        return gettext("%(days)d days, %(anchor)s, progress at most %(ceiling)s") % {
            "days": obj.window_days,
            "anchor": obj.get_window_anchor_display(),
            "ceiling": f"{obj.window_progress_ceiling:g}%",
        }


def policy_terms_rows(terms: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) of stored terms (``calc.ExchangeTerms.as_dict``): the policy's field names
    and choices, yes / no for a switch; keys the policy has no field for are left out."""
    rows = []
    for key, value in terms.items():
        try:
            field = ExchangePolicy._meta.get_field(key)
        except FieldDoesNotExist:
            continue
        if not isinstance(field, models.Field):
            continue
        if isinstance(value, bool):
            shown = gettext("Yes") if value else gettext("No")
        elif getattr(field, "choices", None):
            shown = str(dict(field.choices or ()).get(value, value))
        else:
            shown = str(value)
        rows.append((capfirst(str(field.verbose_name)), shown))
    return rows


# --- Exchanges -------------------------------------------------------------------------------


class ExchangeCampusFilter(HeadOfficeCampusFilter):
    campus_field = "request__campus"


class ExchangeCourseFilter(admin.SimpleListFilter):
    """Exchanges from or to a course of the user's campuses."""

    title = _("course")
    parameter_name = "course"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        ids = visible_campus_ids(request.user)
        courses = Course.objects.filter(Q(exchanges_in__isnull=False) | Q(orders__exchanges_out__isnull=False))
        if ids is not None:
            courses = courses.filter(campus_id__in=ids)
        rows = courses.distinct().order_by("code").values_list("pk", "name", "code")
        return [(str(pk), f"{name} ({code})") for pk, name, code in rows]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Exchange]) -> QuerySet[Exchange]:
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(Q(old_order__course_id=int(value)) | Q(target_course_id=int(value)))
        return queryset


@admin.register(Exchange)
class ExchangeAdmin(CampusScopedAdminMixin, SimpleHistoryAdmin):
    """The campus's exchanges, read only: they change with their request. The "add" page is the
    exchange desk."""

    campus_field = "request__campus"
    list_display = ["request_link", "student", "courses", "difference", "status", "rating_column"]
    list_display_links = ["courses"]  # the request number leads to the decision page instead
    list_filter = ["status", ExchangeCampusFilter, ExchangeCourseFilter]
    list_select_related = ["request__student__user", "request__campus", "old_order__course", "target_course"]
    list_per_page = 50
    search_fields = [
        "request__request_no",
        "old_order__order_no",
        "request__student__student_no",
        "request__student__user__name",
    ]
    search_help_text = _("Request number, order number, the student's number or name.")
    fieldsets = [
        (
            _("The exchange"),
            {
                "fields": [
                    "request_link",
                    "student",
                    "status",
                    "old_order",
                    "target_course",
                    "new_order",
                    "closed_reason",
                ]
            },
        ),
        (
            _("Calculation"),
            {
                "fields": [
                    "method_display",
                    "lines_table",
                    "carried_value",
                    "target_price",
                    "difference",
                    "carried_lessons",
                    "quoted_at",
                    "pay_deadline",
                    "completed_at",
                ]
            },
        ),
        (_("Policy"), {"fields": ["policy", "policy_version", "policy_terms_table"]}),
        (_("The student's rating"), {"fields": ["rating", "rating_comment", "confirmed_at"]}),
    ]
    readonly_fields = [
        "request_link",
        "student",
        "status",
        "old_order",
        "target_course",
        "new_order",
        "closed_reason",
        "method_display",
        "lines_table",
        "carried_value",
        "target_price",
        "difference",
        "carried_lessons",
        "quoted_at",
        "pay_deadline",
        "completed_at",
        "policy",
        "policy_version",
        "policy_terms_table",
        "rating",
        "rating_comment",
        "confirmed_at",
    ]
    change_list_template = "admin/exchanges/exchange/change_list.html"

    class Media:
        css = ADMIN_CSS

    # --- Permissions: exchanges change only with their request (the services).

    def has_add_permission(self, request: HttpRequest) -> bool:
        """The desk is customer service's (the service checks the role and the campus again)."""
        if not request.user.has_perm(FILE_PERMISSION):
            return False  # before the staff row: the admin's home asks every model admin
        staff = getattr(request.user, "staff", None)
        return staff is not None and staff.role == StaffRole.SERVICE

    def has_change_permission(self, request: HttpRequest, obj: Exchange | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Exchange | None = None) -> bool:
        return False

    # --- The list

    def get_list_display(self, request: HttpRequest) -> list[str]:
        # Head office sees which campus each exchange is of.
        if visible_campus_ids(request.user) is None:
            return [*self.list_display, "campus"]
        return list(self.list_display)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        context = {"can_file": self.has_add_permission(request), **(extra_context or {})}
        return super().changelist_view(request, extra_context=context)

    @admin.display(description=_("request"), ordering="request__request_no")
    def request_link(self, obj: Exchange) -> SafeString:
        url = reverse("admin:refunds_refundrequest_change", args=[obj.request_id])
        return format_html('<a href="{}">{}</a>', url, obj.request.request_no)

    @admin.display(description=_("student"), ordering="request__student__user__name")
    def student(self, obj: Exchange) -> SafeString:
        student = obj.request.student
        return format_html('{} <span class="quiet">{}</span>', student.name, student.student_no)

    @admin.display(description=_("old order → new course"))
    def courses(self, obj: Exchange) -> SafeString:
        return format_html(
            '{} <span class="quiet">{}</span> → {}',
            obj.old_order.course.name,
            obj.old_order.order_no,
            obj.target_course.name,
        )

    @admin.display(description=_("difference"))
    def difference(self, obj: Exchange) -> str:
        return difference_words(obj)

    @admin.display(description=_("rating"), ordering="rating")
    def rating_column(self, obj: Exchange) -> str:
        return "★" * obj.rating if obj.rating else "—"

    @admin.display(description=_("campus"))
    def campus(self, obj: Exchange) -> str:
        return str(obj.request.campus)

    # --- The page

    @admin.display(description=_("value carried as"))
    def method_display(self, obj: Exchange) -> str:
        return method_words(obj.method)

    @admin.display(description=_("calculation"))
    def lines_table(self, obj: Exchange) -> SafeString:
        rows = format_html_join(
            "",
            '<tr><td>{}</td><td class="money">{}</td><td>{}</td><td>{}</td></tr>',
            ((line.label, f"¥{line.amount:,.2f}", line.formula, line.explanation) for line in exchange_lines(obj)),
        )
        head = format_html(
            '<thead><tr><th scope="col">{}</th><th scope="col" class="money">{}</th>'
            '<th scope="col">{}</th><th scope="col">{}</th></tr></thead>',
            gettext("item"),
            gettext("amount"),
            gettext("formula"),
            gettext("explanation"),
        )
        return format_html('<table class="exchange-lines">{}<tbody>{}</tbody></table>', head, rows)

    @admin.display(description=_("policy terms used"))
    def policy_terms_table(self, obj: Exchange) -> SafeString:
        """The terms the exchange was calculated under, named as the policy's page names them."""
        rows = format_html_join(
            "", "<tr><th scope='row'>{}</th><td>{}</td></tr>", policy_terms_rows(obj.policy_terms or {})
        )
        return format_html('<table class="exchange-terms"><tbody>{}</tbody></table>', rows)

    # --- The exchange desk (the "add" page)

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponseBase:
        """Customer service files an exchange for a student of its campus: choose her order and the
        new course, look at the calculation with her, record her consent and file it. Nothing is
        saved before the last button, and then all of it or nothing (``exchange_submit_for_student``)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        actor = acting_user_with(request, FILE_PERMISSION)
        now = timezone.now()
        quote: ExchangeQuote | None = None
        if request.method == "POST":
            form = ExchangeDeskForm(request.POST, user=actor, admin_site=self.admin_site, at=now)
            if form.is_valid() and form.button != CHOOSE:
                if form.button == FILE:
                    exchange = self._file(request, form)
                    if exchange is not None:
                        messages.success(
                            request,
                            gettext(
                                "Exchange request %(no)s is filed for %(student)s: %(difference)s. It waits for "
                                "customer service's review."
                            )
                            % {
                                "no": exchange.request.request_no,
                                "student": exchange.request.student.name,
                                "difference": difference_words(exchange),
                            },
                        )
                        return redirect("admin:refunds_refundrequest_change", exchange.request_id)
                quote = self._quote(form, now=now)
        else:
            initial = {name: request.GET[name] for name in ("student", "order") if request.GET.get(name, "").isdigit()}
            form = ExchangeDeskForm(initial=initial, user=actor, admin_site=self.admin_site, at=now)
        key = ""
        if quote is not None:
            order, target, reason = form.choice()
            key = quote_key(order=order, target_code=target, reason=reason, quote=quote)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Exchange desk: file a course exchange for a student"),
            "form": form,
            "quote": quote,
            "quote_key": key,
            "media": self.media + form.media,
            "changelist_url": reverse("admin:exchanges_exchange_changelist"),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/exchanges/exchange/desk.html", context)

    def _quote(self, form: ExchangeDeskForm, *, now: datetime.datetime) -> ExchangeQuote | None:
        """The calculation of the choice posted, or None with the reason next to its field."""
        if any(name in form.errors for name in ExchangeDeskForm.CHOICE_FIELDS):
            return None  # a refusal of the filing was about the choice itself
        order, target, reason = form.choice()
        course = Course.objects.filter(code=target).first()
        if course is None:
            form.add_error("target", gettext("Choose the new course from the list."))
            return None
        try:
            return exchange_quote(order=order, target=course, reason=reason, at=now)
        except ExchangeError as exc:
            form.add_refusal(exc.code, exc.message)
            return None

    def _file(self, request: HttpRequest, form: ExchangeDeskForm) -> Exchange | None:
        """File the exchange whose calculation the page showed; None, with the reason on the form, if refused."""
        seen = form.quoted_amounts()
        if seen is None:
            form.add_error(
                None,
                gettext("The choice changed since the calculation was shown: look at the new figures and file again."),
            )
            return None
        try:
            return exchange_submit_for_student(
                actor=acting_user_with(request, FILE_PERMISSION),
                seen_refund=seen[0],
                seen_pay=seen[1],
                **form.service_arguments(),
            )
        except ExchangeError as exc:
            form.add_refusal(exc.code, exc.message)
            return None
