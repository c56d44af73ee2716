from typing import Any

from django import forms
from django.contrib import admin
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from orders.models import Order
from schoolops.admin_mixins import acting_user_with
from schoolops.errors import ActionRefused
from schoolops.scoping import CampusScopedAdminMixin

from .models import Enrollment, HomeroomAssignment, LearningEvent, Student
from .risk import MANAGE_PERMISSION, student_clear_high_risk, student_flag_high_risk
from .services import PROGRESS_FIELDS


class HighRiskForm(forms.Form):
    reason = forms.CharField(
        label=_("why"),
        max_length=200,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Kept in the student's history and shown to the approvers with the flag."),
    )


@admin.register(Student)
class StudentAdmin(CampusScopedAdminMixin, SimpleHistoryAdmin):
    list_display = ("student_no", "name", "phone", "email", "campus", "high_risk", "created_at")
    list_filter = ("campus", "high_risk")
    search_fields = ("student_no", "user__name", "user__phone", "user__email")
    list_select_related = ("user", "campus")
    raw_id_fields = ("user",)
    # The flag is set by a person or an alert rule and cleared by a supervisor, with a reason,
    # through students.risk: never by editing the fields.
    readonly_fields = (
        "high_risk_status",
        "high_risk",
        "high_risk_note",
        "high_risk_at",
        "high_risk_by",
        "high_risk_cleared_at",
        "high_risk_cleared_by",
        "high_risk_cleared_reason",
    )

    change_form_template = "admin/students/student/change_form.html"

    @admin.display(description=_("high risk"))
    def high_risk_status(self, obj: Student) -> str:
        return obj.high_risk_summary() or str(_("No"))

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = dict(extra_context or {})
        student = self.get_queryset(request).filter(pk=object_id).only("pk", "high_risk").first()
        if student is not None and request.user.has_perm(MANAGE_PERMISSION):
            extra["high_risk_url"] = reverse("admin:students_student_high_risk", args=[student.pk])
            extra["high_risk_flagged"] = student.high_risk
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<int:student_id>/high-risk/",
                self.admin_site.admin_view(self.high_risk_view),
                name="students_student_high_risk",
            )
        ]
        return own + super().get_urls()

    def high_risk_view(self, request: HttpRequest, student_id: int) -> HttpResponseBase:
        """A supervisor flags the student high-risk, or clears the flag, with a reason (the
        service checks the campus and the permission again)."""
        user = acting_user_with(request, MANAGE_PERMISSION)
        student = self.get_queryset(request).filter(pk=student_id).first()
        if student is None:
            raise Http404
        back = HttpResponseRedirect(reverse("admin:students_student_change", args=[student.pk]))
        clearing = student.high_risk
        form = HighRiskForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            reason = form.cleaned_data["reason"]
            try:
                if clearing:
                    student_clear_high_risk(student_id=student.pk, actor=user, reason=reason)
                else:
                    student_flag_high_risk(student_id=student.pk, note=reason, by=user)
            except ActionRefused as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(
                    request, _("The high-risk flag is cleared.") if clearing else _("The student is flagged high-risk.")
                )
                return back
        title = _("Clear the high-risk flag of %(student)s") if clearing else _("Flag %(student)s as high-risk")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": student,
            "form": form,
            "clearing": clearing,
            "title": title % {"student": student},
        }
        return TemplateResponse(request, "admin/students/student/high_risk.html", context)


@admin.register(Enrollment)
class EnrollmentAdmin(CampusScopedAdminMixin, SimpleHistoryAdmin):
    campus_field = "order__course__campus"
    list_display = (
        "order",
        "student",
        "course",
        "homeroom_teacher",
        "lessons_consumed",
        "watch_progress",
        "live_sessions_attended",
        "homework_submitted",
        "last_learning_at",
    )
    list_filter = ("order__course__course_type", "order__course__campus")
    search_fields = ("order__order_no", "order__student__user__name", "order__student__student_no")
    list_select_related = ("order__student__user", "order__course", "homeroom_teacher__user")
    raw_id_fields = ("order",)
    # Progress comes from the learning platform's events, not from hand edits; only the lessons the
    # school counts as delivered may be corrected by hand.
    readonly_fields = tuple(field for field in PROGRESS_FIELDS if field != "lessons_consumed")

    @admin.display(description=_("student"), ordering="order__student__user__name")
    def student(self, obj: Enrollment) -> str:
        return obj.order.student.name

    @admin.display(description=_("course"), ordering="order__course__name")
    def course(self, obj: Enrollment) -> str:
        return obj.order.course.name


@admin.register(LearningEvent)
class LearningEventAdmin(CampusScopedAdminMixin, admin.ModelAdmin):
    campus_field = "enrollment__order__course__campus"
    list_display = (
        "event_id",
        "kind",
        "enrollment",
        "lesson_no",
        "seconds",
        "rating",
        "score",
        "occurred_at",
        "source",
    )
    list_filter = ("kind", "source")
    search_fields = ("event_id", "enrollment__order__order_no")
    date_hierarchy = "occurred_at"
    list_select_related = ("enrollment__order__student__user", "enrollment__order__course")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class EnrollmentInline(admin.StackedInline):
    model = Enrollment
    can_delete = False
    extra = 0
    fields = (
        "homeroom_teacher",
        "lessons_consumed",
        "lessons_watched",
        "watch_progress",
        "live_sessions_attended",
        "replays_watched",
        "homework_submitted",
        "study_seconds",
        "rating",
        "tests_taken",
        "test_score_avg",
        "last_learning_at",
    )
    readonly_fields = fields[1:]


@admin.register(Order)
class OrderAdmin(CampusScopedAdminMixin, SimpleHistoryAdmin):
    campus_field = "course__campus"
    list_display = (
        "order_no",
        "student",
        "course",
        "amount_paid",
        "refunded_total",
        "status",
        "channel",
        "paid_at",
    )
    list_filter = ("status", "channel", "course__course_type", "course__campus")
    search_fields = ("order_no", "gateway_trade_no", "referral_code", "student__user__name", "student__user__phone")
    date_hierarchy = "paid_at"
    list_select_related = ("student__user", "course")
    # Money fields follow payments and refunds, never a hand edit.
    readonly_fields = ("refunded_total", "status", "created_at")
    raw_id_fields = ("student", "course")
    inlines = [EnrollmentInline]


@admin.register(HomeroomAssignment)
class HomeroomAssignmentAdmin(CampusScopedAdminMixin, SimpleHistoryAdmin):
    """Who takes a campus's new orders: a rule per course, one for the campus's other courses;
    without a rule, the teacher with the fewest active enrollments (students.selectors)."""

    list_display = ("campus", "scope", "teacher")
    list_filter = ("campus",)
    search_fields = ("course__code", "course__name", "teacher__user__name", "teacher__user__username")
    list_select_related = ("campus", "course", "teacher__user")

    @admin.display(description=_("course"), ordering="course__code")
    def scope(self, obj: HomeroomAssignment) -> str:
        return obj.course.name if obj.course is not None else str(_("every course"))
