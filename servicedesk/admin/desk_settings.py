"""Each campus's service-desk settings: its hours and its reply and resolution targets.

Operations (``servicedesk.change_desksettings`` and every campus) edit them; the staff who work
tickets read their own campus's. A campus without a row works on the defaults
(``desk_settings_for``): the list shows those campuses with the default values and, to whoever
may add, a link to the add form with the campus filled in. A new target applies to the clocks
started after it; the deadlines already set keep their times.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from schoolops.models import Campus
from schoolops.scoping import CampusScopedAdminMixin, scope_to_campus

from ..models import DeskSettings
from .tickets import DESK_CSS

TARGET_FIELDS = (
    "response_minutes",
    "urgent_response_minutes",
    "complaint_resolution_hours",
    "resolution_hours",
    "warn_at_percent",
)


def hours_of(settings: DeskSettings) -> str:
    days = gettext("every day") if settings.open_on_weekends else gettext("Monday to Friday")
    return f"{settings.opens_at:%H:%M}–{settings.closes_at:%H:%M} · {days}"


def reply_targets(settings: DeskSettings) -> str:
    return gettext("%(normal)d min, urgent %(urgent)d min") % {
        "normal": settings.response_minutes,
        "urgent": settings.urgent_response_minutes,
    }


def resolution_targets(settings: DeskSettings) -> str:
    return gettext("complaints %(complaints)d h, others %(others)d h") % {
        "complaints": settings.complaint_resolution_hours,
        "others": settings.resolution_hours,
    }


@admin.register(DeskSettings)
class DeskSettingsAdmin(CampusScopedAdminMixin, SimpleHistoryAdmin):
    list_display = ("campus", "hours", "reply_within", "resolve_within", "warn_at")
    list_select_related = ("campus",)
    ordering = ("campus__code",)
    change_list_template = "admin/servicedesk/desksettings/change_list.html"
    fieldsets = (
        (None, {"fields": ("campus",)}),
        (
            _("Hours"),
            {
                "fields": ("opens_at", "closes_at", "open_on_weekends"),
                "description": _("The clocks run only while the desk is open."),
            },
        ),
        (
            _("Targets"),
            {
                "fields": TARGET_FIELDS,
                "description": _(
                    "In the desk's open time. A new target applies to the clocks started after the change."
                ),
            },
        ),
    )

    class Media:
        css = DESK_CSS

    def get_readonly_fields(self, request: HttpRequest, obj: DeskSettings | None = None) -> tuple[str, ...]:
        readonly = tuple(super().get_readonly_fields(request, obj))
        # A row belongs to its campus for good; another campus gets its own row.
        return readonly if obj is None else (*readonly, "campus")

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "campus" and field is not None:
            # Only on the add form (the campus is read-only once saved): campuses still on the defaults.
            field.queryset = field.queryset.filter(desk_settings__isnull=True)
        return field

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        on_defaults = scope_to_campus(
            Campus.objects.filter(desk_settings__isnull=True).order_by("code"), user=request.user, campus_field=""
        )
        defaults = DeskSettings()
        context = {
            "campuses_on_defaults": list(on_defaults),
            "default_hours": hours_of(defaults),
            "default_reply": reply_targets(defaults),
            "default_resolution": resolution_targets(defaults),
            "default_warn": defaults.warn_at_percent,
            "can_add_settings": self.has_add_permission(request),
            "add_url": reverse("admin:servicedesk_desksettings_add"),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=context)

    @admin.display(description=_("desk hours"))
    def hours(self, obj: DeskSettings) -> str:
        return hours_of(obj)

    @admin.display(description=_("first reply within"))
    def reply_within(self, obj: DeskSettings) -> str:
        return reply_targets(obj)

    @admin.display(description=_("resolved within"))
    def resolve_within(self, obj: DeskSettings) -> str:
        return resolution_targets(obj)

    @admin.display(description=_("warn at"), ordering="warn_at_percent")
    def warn_at(self, obj: DeskSettings) -> str:
        return f"{obj.warn_at_percent}%"
