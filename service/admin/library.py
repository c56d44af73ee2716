"""The script library (话术库) and each campus's service settings.

Operations edit the scripts (``service.change_script``); every teacher reads them, and a task's
page shows the active scripts of its scenario with the student's data filled in. A script's text
is checked on save (``script_problems``: an unknown placeholder is an error that names it); its
page lists the placeholders and shows the saved text rendered with sample data.

Service settings are per campus: operations edit every campus's, a campus head her own; the
homeroom teachers' supervisors read them. A campus without a row works on the defaults
(``service_settings_for``), listed below the table with a link to add its own.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from schoolops.models import Campus
from schoolops.scoping import CampusScopedAdminMixin, scope_to_campus

from ..models import Script, ScriptScenario, ServiceSettings
from ..scripts import script_sample
from .forms import ScriptForm
from .tasks import SERVICE_CSS

# The scenarios in the order of a student's journey (seed 003), not the alphabet's.
SCENARIO_ORDER = Case(
    *(When(scenario=value, then=Value(n)) for n, value in enumerate(ScriptScenario.values)),
    default=Value(len(ScriptScenario.values)),
    output_field=IntegerField(),
)


@admin.register(Script)
class ScriptAdmin(SimpleHistoryAdmin):
    form = ScriptForm
    list_display = ("title", "scenario", "key_points", "active", "position")
    list_display_links = ("title",)
    list_editable = ("active", "position")
    list_filter = ("scenario", "active")
    search_fields = ("title", "key_points", "body")
    readonly_fields = ("preview",)
    fieldsets = (
        (None, {"fields": ("scenario", "title", "key_points", "cautions")}),
        (_("Script"), {"fields": ("body", "preview")}),
        (_("Use"), {"fields": ("active", "position")}),
    )

    class Media:
        css = SERVICE_CSS

    def get_queryset(self, request: HttpRequest) -> QuerySet[Script]:
        scripts = Script.objects.annotate(journey=SCENARIO_ORDER)
        return scripts.order_by(*self.get_ordering(request))

    def get_ordering(self, request: HttpRequest) -> tuple[str, ...]:
        return ("journey", "position", "pk")

    @admin.display(description=_("preview with sample data"))
    def preview(self, obj: Script) -> SafeString:
        if not obj.pk or not obj.body:
            return format_html('<span class="quiet">{}</span>', gettext("Saved scripts are previewed here."))
        return format_html('<div class="service-script-body" id="script-preview">{}</div>', script_sample(obj.body))


@admin.register(ServiceSettings)
class ServiceSettingsAdmin(CampusScopedAdminMixin, SimpleHistoryAdmin):
    list_display = (
        "campus",
        "first_contact_hours",
        "reminder_minutes",
        "inactive_days",
        "follow_up_days",
        "renewal_lead_days",
        "escalate_after_hours",
    )
    list_select_related = ("campus",)
    ordering = ("campus__code",)
    change_list_template = "admin/service/servicesettings/change_list.html"
    fieldsets = (
        (None, {"fields": ("campus",)}),
        (
            _("Joining and the first lesson"),
            {"fields": ("first_contact_hours", "reminder_minutes", "feedback_after_minutes")},
        ),
        (
            _("Learning and follow-ups"),
            {"fields": ("inactive_days", "follow_up_days", "task_days", "low_score", "behind_points")},
        ),
        (_("Renewal and referrals"), {"fields": ("renewal_lead_days", "referrer_reward", "referee_reward")}),
        (
            _("Escalation"),
            {
                "fields": ("escalate_after_hours",),
                "description": _("A task overdue this long is reported to the teacher's supervisor, once."),
            },
        ),
    )

    class Media:
        css = SERVICE_CSS

    def get_readonly_fields(self, request: HttpRequest, obj: ServiceSettings | None = None) -> tuple[str, ...]:
        readonly = tuple(super().get_readonly_fields(request, obj))
        # A row belongs to its campus for good; another campus gets its own row.
        return readonly if obj is None else (*readonly, "campus")

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "campus" and field is not None:
            field.queryset = field.queryset.filter(service_settings__isnull=True)
        return field

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        on_defaults = scope_to_campus(
            Campus.objects.filter(service_settings__isnull=True).order_by("code"), user=request.user, campus_field=""
        )
        context = {
            "campuses_on_defaults": list(on_defaults),
            "defaults": ServiceSettings(),
            "can_add_settings": self.has_add_permission(request),
            "add_url": reverse("admin:service_servicesettings_add"),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=context)
