"""What the refund request lists share: a paginator that never counts a whole table, the search,
and the filters of the approval queue and the request list.

Django's changelist counts the filtered rows on every page (``paginator.count``) and, unless
``show_full_result_count`` is off, the unfiltered ones too. On a campus with 100k requests both
are full scans; ``CappedPaginator`` counts at most ``COUNT_CAP`` + 1 rows instead.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, ClassVar

from django.contrib import admin
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from schoolops.models import Campus, Staff
from schoolops.scoping import visible_campus_ids

from ..models import TIER_STATUS, ApprovalSettings, ApprovalTier, RefundRequest, RequestKind
from ..selectors import approval_settings_for

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

COUNT_CAP = 1000


class CappedPaginator(Paginator):
    """Counts at most ``COUNT_CAP`` + 1 rows; beyond that the list says "more than 1000".

    The count is ``SELECT COUNT(*) FROM (SELECT id ... LIMIT 1001)``: no ordering, no annotations.
    """

    cap = COUNT_CAP

    @cached_property
    def _found(self) -> int:
        object_list = self.object_list
        if isinstance(object_list, QuerySet):
            return object_list.order_by().values("pk")[: self.cap + 1].count()
        return len(object_list)

    @cached_property
    def count(self) -> int:
        return min(self._found, self.cap)

    @property
    def is_capped(self) -> bool:
        """Whether there are more rows than were counted."""
        return self._found > self.cap


class BoundedCountMixin:
    """A changelist that never counts more than ``COUNT_CAP`` + 1 rows, nor computes facet counts."""

    paginator: ClassVar[type] = CappedPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER


# Letters, digits and dashes only: a number of ours or a phone, never a (Chinese) name.
NUMBER_LIKE = re.compile(r"[A-Za-z0-9-]+")
# The most requests one number can name (a phone: the student's requests); more are not listed.
SEARCH_MATCHES_MAX = 500


class RefundListMixin(BoundedCountMixin):
    """Bounded counts, and a search whose exact parts use the unique indexes.

    The search matches a request or order number or a phone number exactly (upper-cased too: the
    numbers are stored in capitals) when the term looks like one, else a part of the student's name.
    """

    list_per_page = 50
    search_fields: ClassVar[list[str] | tuple[str, ...]] = (
        "request_no",
        "order__order_no",
        "student__user__phone",
        "student__user__name",
    )
    search_help_text: ClassVar[StrOrPromise | None] = _(
        "Request number, order number, the student's phone number or name."
    )

    def get_search_results(self, request, queryset, search_term):
        term = (search_term or "").strip()
        if not term:
            return queryset, False
        if NUMBER_LIKE.fullmatch(term):
            # A request, order or phone number: exact lookups on unique indexes, no scan.
            # Each part through its own index, joined by UNION: an OR across the joined tables
            # would make PostgreSQL filter every row of the list's index instead.
            # The matches are read first (a handful of rows at most) and the list filtered by their
            # keys: as a subquery, joined to the list's nine tables, it came past PostgreSQL's
            # join_collapse_limit and was joined last, after the whole campus's rows (~200 ms).
            exact = {term, term.upper()}
            # (order_by(): SQLite refuses ORDER BY in a UNION part.)
            requests = RefundRequest.objects.order_by().values_list("pk", flat=True)
            matches = requests.filter(request_no__in=exact).union(
                requests.filter(order__order_no__in=exact), requests.filter(student__user__phone=term)
            )
            found = Q(pk__in=list(matches[:SEARCH_MATCHES_MAX]))
        else:
            found = Q(student__user__name__icontains=term)
        return queryset.filter(found), False


def staff_of(request) -> Staff | None:
    """The acting user's staff row (campus and user loaded), looked up once per HTTP request."""
    if not hasattr(request, "_refund_admin_staff"):
        user = request.user
        staff = (
            Staff.objects.select_related("campus").filter(user=user, user__is_active=True).first()
            if user.is_authenticated
            else None
        )
        if staff is not None:
            user.staff = staff  # caches both sides: the campus scoping reads user.staff, step_can_act staff.user
        request._refund_admin_staff = staff
    return request._refund_admin_staff


def thresholds_for(request) -> ApprovalSettings:
    """The approval settings of the user's campus (the defaults for head office without one)."""
    if not hasattr(request, "_refund_admin_thresholds"):
        staff = staff_of(request)
        request._refund_admin_thresholds = (
            approval_settings_for(campus=staff.campus_id) if staff is not None else ApprovalSettings()
        )
    return request._refund_admin_thresholds


class VisibleCampusFilter(admin.SimpleListFilter):
    """The campuses the user may see, and no others (one query)."""

    title = _("campus")
    parameter_name = "campus"

    def lookups(self, request, model_admin):
        ids = visible_campus_ids(request.user)
        campuses = Campus.objects.order_by("code")
        if ids is not None:
            campuses = campuses.filter(pk__in=ids)
        return [(str(campus.pk), campus.name) for campus in campuses]

    def queryset(self, request, queryset):
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(campus_id=int(value))
        return queryset


class CurrentTierFilter(admin.SimpleListFilter):
    """The tier the request waits at (a pending status is one tier)."""

    title = _("tier")
    parameter_name = "tier"

    def lookups(self, request, model_admin):
        return [(tier, ApprovalTier(tier).label) for tier in TIER_STATUS]

    def queryset(self, request, queryset):
        status = TIER_STATUS.get(self.value() or "")
        return queryset.filter(status=status) if status else queryset


class DeadlineFilter(admin.SimpleListFilter):
    """The state of the pending step's deadline (the queue's rows carry ``step_due_at``)."""

    title = _("deadline")
    parameter_name = "deadline"
    SOON_HOURS = 4

    def lookups(self, request, model_admin):
        return [
            ("escalated", _("Escalated")),
            ("overdue", _("Overdue")),
            ("soon", _("Due within %(hours)d hours") % {"hours": self.SOON_HOURS}),
            ("on_time", _("On time")),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        soon = now + datetime.timedelta(hours=self.SOON_HOURS)
        match self.value():
            case "escalated":
                return queryset.filter(step_escalated=True)
            case "overdue":
                return queryset.filter(step_due_at__lt=now)
            case "soon":
                return queryset.filter(step_due_at__gte=now, step_due_at__lt=soon)
            case "on_time":
                return queryset.filter(step_due_at__gte=now)
        return queryset


class AmountBandFilter(admin.SimpleListFilter):
    """Small, medium and large by the thresholds of the user's campus (the route they get)."""

    title = _("amount")
    parameter_name = "amount"

    def lookups(self, request, model_admin):
        settings = thresholds_for(request)
        small, large = settings.small_below, settings.large_above
        return [
            ("small", _("Below ¥%(small)s (automatic check)") % {"small": _yuan(small)}),
            ("medium", _("¥%(small)s – ¥%(large)s") % {"small": _yuan(small), "large": _yuan(large)}),
            ("large", _("Above ¥%(large)s (campus head)") % {"large": _yuan(large)}),
        ]

    def queryset(self, request, queryset):
        settings = thresholds_for(request)
        match self.value():
            case "small":
                return queryset.filter(approved_amount__lt=settings.small_below)
            case "medium":
                return queryset.filter(
                    approved_amount__gte=settings.small_below, approved_amount__lte=settings.large_above
                )
            case "large":
                return queryset.filter(approved_amount__gt=settings.large_above)
        return queryset


class AgeFilter(admin.SimpleListFilter):
    """How long the request has waited: in the queue since its step opened, in the list since submission."""

    title = _("waiting")
    parameter_name = "age"
    field = "submitted_at"
    DAYS = {"1d": 1, "3d": 3, "7d": 7}

    def lookups(self, request, model_admin):
        return [
            ("1d", _("More than a day")),
            ("3d", _("More than 3 days")),
            ("7d", _("More than a week")),
        ]

    def queryset(self, request, queryset):
        days = self.DAYS.get(self.value() or "")
        if days is None:
            return queryset
        return queryset.filter(**{f"{self.field}__lt": timezone.now() - datetime.timedelta(days=days)})


class StepAgeFilter(AgeFilter):
    field = "step_created_at"


class RiskFilter(admin.SimpleListFilter):
    """Flagged: the request has risk findings, or its student is marked high-risk."""

    title = _("risk")
    parameter_name = "risk"

    def lookups(self, request, model_admin):
        return [("flagged", _("Flagged")), ("clear", _("Not flagged"))]

    def queryset(self, request, queryset):
        flagged = ~Q(risk_flags=[]) | Q(student__high_risk=True)
        match self.value():
            case "flagged":
                return queryset.filter(flagged)
            case "clear":
                return queryset.filter(risk_flags=[], student__high_risk=False)
        return queryset


def _yuan(amount: Decimal) -> str:
    return f"{amount:.0f}" if amount == amount.to_integral_value() else f"{amount:.2f}"


def is_flagged(obj) -> bool:
    """The queue's risk badge: risk findings on the request, or a high-risk student."""
    return bool(obj.risk_flags) or bool(obj.student.high_risk)


# --- Requests of a kind that an app above refunds owns -------------------------------------------
#
# A course exchange is a request of kind "exchange": its money (a difference refunded, or one the
# student pays) and what its approval does are the exchanges app's to say. refunds imports none of
# it: exchanges registers a ``RequestKindWords`` (``request_page_extend(kinds=...)``) when its admin
# loads, and the lists and the request page ask it for the words of such a request.


@dataclass(frozen=True)
class RequestKindWords:
    """How the approval admin speaks of the requests of ``kind``.

    ``related``: what ``amount`` and ``outcome`` read of a request, loaded with the lists' rows
    (``select_related``), so a list makes no query per row. ``amount``: the money and which way it
    goes (the lists' amount column, the request page). ``outcome``: what the last approval does."""

    kind: str
    related: tuple[str, ...]
    amount: Callable[[RefundRequest], str]
    outcome: Callable[[RefundRequest], str]


REQUEST_KINDS: dict[str, RequestKindWords] = {}


def kind_words(obj: RefundRequest) -> RequestKindWords | None:
    return REQUEST_KINDS.get(obj.kind)


def kinds_related() -> tuple[str, ...]:
    """What the registered kinds read of a request's relations, for the lists' ``select_related``."""
    return tuple(dict.fromkeys(name for words in REQUEST_KINDS.values() for name in words.related))


def amount_words(obj: RefundRequest) -> str:
    """The amount column: a refund's amount, or what the request's kind says of its money."""
    words = kind_words(obj)
    return words.amount(obj) if words is not None else f"¥{obj.approved_amount:,.2f}"


def kind_badge(obj: RefundRequest) -> SafeString:
    """退费 or 换课, marked so an exchange stands out in a list of refunds."""
    css = "kind-exchange" if obj.kind == RequestKind.EXCHANGE else "kind-refund"
    return format_html('<span class="kind-badge {}">{}</span>', css, obj.get_kind_display())
