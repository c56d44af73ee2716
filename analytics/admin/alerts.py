"""Alert rules (operations edit them, with a preview of the last 90 days), the alerts they raised
(acknowledged and closed by a person) and the course quality reviews they opened.

Every page is kept to the user's campuses (school-wide alerts: head office only); every change
goes through ``analytics.alerts``' services, which check the permission and the campus again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

if TYPE_CHECKING:  # the mixin is only ever mixed into a ModelAdmin
    _AdminBase = admin.ModelAdmin
else:
    _AdminBase = object

from schoolops.admin_mixins import acting_user_with
from schoolops.errors import ActionRefused
from schoolops.models import Staff
from schoolops.scoping import CampusChoicesAdminMixin, CampusScopedAdminMixin, limit_campus_choices

from ..alerts import (
    HANDLE_PERMISSION,
    PREVIEW_DAYS,
    REVIEW_PERMISSION,
    alert_acknowledge,
    alert_close,
    alert_rule_preview,
    alert_summary,
    can_see_campus,
    course_review_of,
    course_review_update,
)
from ..models import Alert, AlertKind, AlertRule, AlertScope, AlertStatus, CourseReview, CourseReviewStatus

CHANGE_RULE = "analytics.change_alertrule"


class AlertRuleForm(forms.ModelForm):
    class Meta:
        model = AlertRule
        fields = ("name", "kind", "scope", "campus", "threshold", "window_days", "streak_days", "minimum", "is_active")
        help_texts = {
            "threshold": _(
                "Spike: % of the trailing daily average (150). Student: refunds in the window, more than (3). "
                "Course: refunds ÷ revenue, % (10). Teacher: times the campus's rate (2)."
            ),
            "window_days": _(
                "Spike: the days averaged before the day (28). Student: the days counted (365). Course and "
                "teacher: the days the rate is taken over (30 / 90)."
            ),
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        errors: dict[str, str] = {}
        kind, threshold = data.get("kind"), data.get("threshold")
        if threshold is not None and threshold <= 0:
            errors["threshold"] = gettext("The threshold must be above zero.")
        if data.get("window_days") is not None and not 1 <= data["window_days"] <= 730:
            errors["window_days"] = gettext("Between 1 and 730 days.")
        if data.get("streak_days") is not None and not 1 <= data["streak_days"] <= 365:
            errors["streak_days"] = gettext("Between 1 and 365 days.")
        if data.get("scope") == AlertScope.SCHOOL:
            if kind != AlertKind.SPIKE:
                errors["scope"] = gettext("Only a spike can be counted for the whole school.")
            elif data.get("campus"):
                errors["campus"] = gettext("A rule for the whole school is not limited to one campus.")
        if errors:
            raise ValidationError(errors)
        return data


@admin.register(AlertRule)
class AlertRuleAdmin(CampusChoicesAdminMixin, SimpleHistoryAdmin):
    form = AlertRuleForm
    list_display = (
        "name",
        "kind",
        "scope",
        "campus",
        "threshold",
        "window_days",
        "streak_days",
        "minimum",
        "is_active",
        "evaluated_through",
    )
    list_filter = ("kind", "is_active")
    readonly_fields = ("evaluated_through",)
    change_form_template = "admin/analytics/alertrule/change_form.html"

    def get_urls(self) -> list[URLPattern]:
        own = [path("preview/", self.admin_site.admin_view(self.preview_view), name="analytics_alertrule_preview")]
        return own + super().get_urls()

    def preview_view(self, request: HttpRequest) -> HttpResponse:
        """What the rule as filled in (saved or not) would have fired on the last 90 days."""
        acting_user_with(request, CHANGE_RULE)
        if request.method != "POST":
            raise PermissionDenied
        rule_id = request.POST.get("rule_id", "")
        instance = AlertRule.objects.filter(pk=rule_id).first() if rule_id.isdigit() else None
        form = AlertRuleForm(request.POST, instance=instance)
        limit_campus_choices(form.fields["campus"], user=request.user)
        preview = alert_rule_preview(form.save(commit=False)) if form.is_valid() else None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Preview: what the rule would have fired in the last %(days)d days")
            % {"days": PREVIEW_DAYS},
            "form": form,
            "preview": preview,
        }
        return TemplateResponse(request, "admin/analytics/alertrule/preview.html", context)


REFUSED = "_analytics_action_refused"


def _refused(request: HttpRequest, exc: ActionRefused) -> None:
    """The service refused (a race: someone else acted first): say so, and skip the admin's
    "changed successfully" (the admin instance is shared by threads: the flag is the request's)."""
    messages.error(request, exc.message)
    setattr(request, REFUSED, True)


def _was_refused(request: HttpRequest) -> bool:
    return bool(getattr(request, REFUSED, False))


class _ServiceRefusalMixin(_AdminBase):
    """A change the service refused stays on its page with the message, not the admin's
    "changed successfully"."""

    def response_change(self, request: HttpRequest, obj: Any) -> HttpResponse:
        if _was_refused(request):
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)


class AlertActionForm(forms.ModelForm):
    """Acknowledge or close: the alert's only changes, through the services."""

    action = forms.ChoiceField(
        label=_("action"),
        choices=[("acknowledge", _("Acknowledge: I am on it")), ("close", _("Close: it is handled"))],
        widget=forms.RadioSelect,
    )

    class Meta:
        model = Alert
        fields = ("note",)
        help_texts = {"note": _("What was found and done; required to close.")}


@admin.register(Alert)
class AlertAdmin(_ServiceRefusalMixin, CampusScopedAdminMixin, admin.ModelAdmin):
    form = AlertActionForm
    list_display = ("day", "kind", "campus", "subject", "summary", "status", "created_at")
    list_filter = ("status", "kind", "campus")
    list_select_related = ("campus", "course", "teacher__user", "student__user", "rule")
    date_hierarchy = "day"
    show_full_result_count = False
    readonly_fields = (
        "rule",
        "kind",
        "campus",
        "subject",
        "day",
        "since",
        "summary",
        "figures",
        "review",
        "status",
        "created_at",
        "acknowledged_by",
        "acknowledged_at",
        "closed_by",
        "closed_at",
    )

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("course_review__owner__user")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Alert | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Alert | None = None) -> bool:
        if not request.user.has_perm(HANDLE_PERMISSION):
            return False
        return obj is None or (obj.status != AlertStatus.CLOSED and can_see_campus(request.user, obj.campus_id))  # type: ignore[arg-type]  # staff: a User

    def get_fields(self, request: HttpRequest, obj: Alert | None = None) -> list[str]:  # type: ignore[override]
        fields = list(self.readonly_fields)
        if obj is not None and self.has_change_permission(request, obj):
            return [*fields, "action", "note"]
        return [*fields, "note"]

    def get_readonly_fields(self, request: HttpRequest, obj: Alert | None = None) -> tuple[str, ...]:
        if obj is not None and self.has_change_permission(request, obj):
            return self.readonly_fields
        return (*self.readonly_fields, "note")

    @admin.display(description=_("about"))
    def subject(self, obj: Alert) -> str:
        return str(obj.student or obj.teacher or obj.course or obj.campus or gettext("the whole school"))

    @admin.display(description=_("summary"))
    def summary(self, obj: Alert) -> str:
        return alert_summary(obj)

    @admin.display(description=_("course quality review"))
    def review(self, obj: Alert) -> str:
        review = course_review_of(obj)
        if review is None:
            return "-"
        url = reverse("admin:analytics_coursereview_change", args=[review.pk])
        return format_html('<a href="{}">{}</a>', url, review)

    def save_model(self, request: HttpRequest, obj: Alert, form: forms.ModelForm, change: bool) -> None:
        user = acting_user_with(request, HANDLE_PERMISSION)
        action, note = form.cleaned_data.get("action"), form.cleaned_data.get("note", "")
        try:
            if action == "close":
                alert_close(alert_id=obj.pk, actor=user, note=note)
            else:
                alert_acknowledge(alert_id=obj.pk, actor=user, note=note)
        except ActionRefused as exc:
            _refused(request, exc)

    def get_form(self, request: HttpRequest, obj: Alert | None = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)

        class Checked(form):  # type: ignore[valid-type,misc]
            def clean(self) -> dict[str, Any]:
                data = super().clean() or {}
                if data.get("action") == "close" and not (data.get("note") or "").strip():
                    self.add_error("note", gettext("Say what was done about the alert before closing it."))
                return data

        return Checked


class CourseReviewForm(forms.ModelForm):
    close = forms.BooleanField(
        label=_("Close the review"), required=False, help_text=_("Findings and an outcome are required to close.")
    )

    class Meta:
        model = CourseReview
        fields = ("owner", "deadline", "findings", "outcome", "outcome_note")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("close"):
            if not (data.get("findings") or "").strip():
                self.add_error("findings", gettext("A review closes with its findings."))
            if not data.get("outcome"):
                self.add_error("outcome", gettext("A review closes with its outcome."))
        return data


@admin.register(CourseReview)
class CourseReviewAdmin(_ServiceRefusalMixin, CampusScopedAdminMixin, SimpleHistoryAdmin):
    form = CourseReviewForm
    list_display = ("course", "campus", "owner", "deadline", "overdue", "status", "outcome", "opened_at")
    list_filter = ("status", "outcome", "campus")
    list_select_related = ("course", "campus", "owner__user")
    search_fields = ("course__name", "findings")
    readonly_fields = ("course", "campus", "alert_link", "opened_at", "status", "closed_by", "closed_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: CourseReview | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: CourseReview | None = None) -> bool:
        if not request.user.has_perm(REVIEW_PERMISSION):
            return False
        return obj is None or obj.status != CourseReviewStatus.CLOSED

    def get_fields(self, request: HttpRequest, obj: CourseReview | None = None) -> list[str]:  # type: ignore[override]  # the stubs want the fieldsets union
        editable = ["owner", "deadline", "findings", "outcome", "outcome_note"]
        if obj is not None and self.has_change_permission(request, obj):
            editable.append("close")
        return [*self.readonly_fields, *editable]

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "owner":
            # Staff of the review's campus; the service refuses anyone else.
            review_id = request.resolver_match.kwargs.get("object_id") if request.resolver_match else None
            review = CourseReview.objects.filter(pk=review_id).first() if review_id else None
            queryset = Staff.objects.active().select_related("user")
            kwargs["queryset"] = queryset.filter(campus_id=review.campus_id) if review else queryset.none()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description=_("alert"))
    def alert_link(self, obj: CourseReview) -> str:
        if obj.alert is None:
            return "-"
        url = reverse("admin:analytics_alert_change", args=[obj.alert_id])
        return format_html('<a href="{}">{}</a>', url, alert_summary(obj.alert))

    @admin.display(description=_("overdue"), boolean=True)
    def overdue(self, obj: CourseReview) -> bool:
        return obj.status == CourseReviewStatus.OPEN and obj.deadline < timezone.localdate()

    def save_model(self, request: HttpRequest, obj: CourseReview, form: forms.ModelForm, change: bool) -> None:
        user = acting_user_with(request, REVIEW_PERMISSION)
        data = form.cleaned_data
        try:
            course_review_update(
                review_id=obj.pk,
                actor=user,
                findings=data.get("findings", ""),
                outcome=data.get("outcome", ""),
                outcome_note=data.get("outcome_note", ""),
                owner=data.get("owner"),
                deadline=data.get("deadline"),
                close=bool(data.get("close")),
            )
        except ActionRefused as exc:
            _refused(request, exc)
