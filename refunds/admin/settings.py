"""Each campus's approval settings: thresholds, limits, deadlines, hours to decide per tier.

Operations (``refunds.change_approvalsettings`` and every campus) edit them; every other staff
member reads their own campus's. A campus without a row works on the defaults
(``approval_settings_for``): the list shows those campuses with the default values and, to
whoever may add, a link to the add form with the campus filled in. Nothing is created by opening
a page: settings exist once someone decided them, and their history starts with that decision.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.validators import MinValueValidator
from django.http import HttpRequest, JsonResponse
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from schoolops.models import Campus
from schoolops.scoping import CampusScopedAdminMixin, scope_to_campus

from ..models import TIER_STATUS, ApprovalSettings
from .route_diagram import route_scenarios

SLA_FIELDS = tuple(f"sla_{tier}_hours" for tier in TIER_STATUS)
RECENT_CHANGES = 5


ROUTE_THRESHOLDS = ("small_below", "large_above", "exchange_head_above")


def render_route_diagram(
    *, small_below: Decimal, large_above: Decimal, exchange_head_above: Decimal, routes_url: str = ""
) -> SafeString:
    """The route diagram of these thresholds (``routes_url``: where the page asks for it again)."""
    scenarios = route_scenarios(
        small_below=small_below, large_above=large_above, exchange_head_above=exchange_head_above
    )
    html = render_to_string(
        "admin/refunds/approvalsettings/route_diagram.html", {"scenarios": scenarios, "routes_url": routes_url}
    )
    return SafeString(html)


class ApprovalSettingsForm(forms.ModelForm):
    """Every field's own error next to it: hours per tier at least one, and customer service never
    approving alone what the route sends to the campus head."""

    class Meta:
        model = ApprovalSettings
        fields = (
            "campus",
            "small_below",
            "large_above",
            "service_limit",
            "auto_max_progress",
            "auto_max_recent_refunds",
            "risk_refunds_per_year",
            "appeal_days",
            "needs_info_days",
            "exchange_head_above",
            *SLA_FIELDS,
        )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in SLA_FIELDS:
            field = self.fields.get(name)
            if isinstance(field, forms.IntegerField):
                # One message for 0 and for negative hours alike, instead of the generic "at least 0".
                field.min_value = 1
                field.widget.attrs["min"] = 1
                field.validators = [v for v in field.validators if not isinstance(v, MinValueValidator)]
                field.validators.append(MinValueValidator(1, message=_("Give at least one hour.")))

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        limit, large = data.get("service_limit"), data.get("large_above")
        if limit is not None and large is not None and limit > large:
            self.add_error(
                "service_limit",
                _(
                    "Customer service would approve alone refunds the campus head must approve; "
                    "keep the limit at or below the large-refund threshold (%(large)s)."
                )
                % {"large": large},
            )
        return data


@admin.register(ApprovalSettings)
class ApprovalSettingsAdmin(CampusScopedAdminMixin, SimpleHistoryAdmin):
    form = ApprovalSettingsForm
    list_display = (
        "campus",
        "small_below",
        "large_above",
        "service_limit",
        "appeal_days",
        "needs_info_days",
        "hours_to_decide",
    )
    list_select_related = ("campus",)
    ordering = ("campus__code",)
    change_list_template = "admin/refunds/approvalsettings/change_list.html"
    fieldsets = (
        (None, {"fields": ("campus",)}),
        (_("Routes by amount"), {"fields": ("small_below", "large_above", "service_limit")}),
        (_("Approval routes"), {"fields": ("route_diagram",)}),
        (
            _("Automatic check and risk"),
            {"fields": ("auto_max_progress", "auto_max_recent_refunds", "risk_refunds_per_year")},
        ),
        (_("Deadlines"), {"fields": ("appeal_days", "needs_info_days")}),
        (_("Course exchanges"), {"fields": ("exchange_head_above",)}),
        (_("Hours to decide, per tier"), {"fields": SLA_FIELDS}),
    )

    class Media:
        css = {"all": ("ops/routes.css",)}
        js = ("ops/routes.js",)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        return (*fieldsets, (_("Recent changes"), {"fields": ("recent_changes",)}))

    def get_readonly_fields(self, request, obj=None):
        readonly = (*super().get_readonly_fields(request, obj), "route_diagram")
        if obj is None:
            return readonly
        # A row belongs to its campus for good; another campus gets its own row.
        return (*readonly, "campus", "recent_changes")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "campus" and field is not None:
            # Only on the add form (the campus is read-only once saved): campuses still on the defaults.
            field.queryset = field.queryset.filter(approval_settings__isnull=True)
        return field

    def get_urls(self):
        own = [
            path(
                "routes/",
                self.admin_site.admin_view(self.routes_view),
                name="refunds_approvalsettings_routes",
            )
        ]
        return own + super().get_urls()

    def routes_view(self, request: HttpRequest) -> JsonResponse:
        """The route diagram for thresholds as typed (not saved): the page redraws it as they change.
        Amounts that draw nothing are answered with why (an answer, not a failed request)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        defaults = ApprovalSettings()
        values: dict[str, Decimal] = {}
        for name in ROUTE_THRESHOLDS:
            raw = request.GET.get(name, "").strip().replace(",", "")
            try:
                value = Decimal(raw) if raw else getattr(defaults, name)
            except InvalidOperation:
                value = Decimal("-1")
            if not value.is_finite() or value < 0 or value >= Decimal("1e10"):
                return JsonResponse({"error": str(_("Type amounts of zero or more to see the routes."))})
            values[name] = value.quantize(Decimal("0.01"))
        if values["large_above"] < values["small_below"]:
            return JsonResponse({"error": str(_("The large threshold cannot be below the small one."))})
        html = render_route_diagram(
            small_below=values["small_below"],
            large_above=values["large_above"],
            exchange_head_above=values["exchange_head_above"],
        )
        return JsonResponse({"html": html})

    @admin.display(description=_("approval route per amount"))
    def route_diagram(self, obj: ApprovalSettings) -> SafeString:
        return render_route_diagram(
            small_below=obj.small_below,
            large_above=obj.large_above,
            exchange_head_above=obj.exchange_head_above,
            routes_url=reverse("admin:refunds_approvalsettings_routes"),
        )

    def changelist_view(self, request, extra_context=None):
        on_defaults = scope_to_campus(
            Campus.objects.filter(approval_settings__isnull=True).order_by("code"), user=request.user, campus_field=""
        )
        defaults = ApprovalSettings()
        context = {
            "campuses_on_defaults": list(on_defaults),
            "defaults": defaults,
            "default_hours": self.hours_to_decide(defaults),
            "can_add_settings": self.has_add_permission(request),
            "add_url": reverse("admin:refunds_approvalsettings_add"),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=context)

    @admin.display(description=_("hours to decide (homeroom / quality / supervisor / campus head / finance)"))
    def hours_to_decide(self, obj: ApprovalSettings) -> str:
        return " / ".join(str(getattr(obj, name)) for name in SLA_FIELDS)

    @admin.display(description=_("recent changes"))
    def recent_changes(self, obj: ApprovalSettings) -> str:
        """The last changes, newest first: when, by whom, and each field's old and new value."""
        records = list(
            obj.history.select_related("history_user").order_by("-history_date", "-history_id")[: RECENT_CHANGES + 1]
        )
        if not records:
            return "—"
        labels = {field.name: field.verbose_name for field in ApprovalSettings._meta.fields}
        rows: list[tuple[str, object, SafeString]] = []
        for newer, older in zip(records, [*records[1:], None], strict=True):
            if len(rows) == RECENT_CHANGES:
                break
            if older is None:
                what = format_html("{}", _("Created"))
            else:
                changes = newer.diff_against(older).changes
                what = format_html_join(
                    "; ",
                    "{}: {} → {}",
                    ((labels.get(c.field, c.field), c.old, c.new) for c in changes),
                ) or format_html("{}", _("Saved without changes"))
            when = f"{timezone.localtime(newer.history_date):%Y-%m-%d %H:%M}"
            rows.append((when, newer.history_user or _("system"), what))
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{} · {} · {}</li>", rows))
