from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from schoolops.scoping import CampusScopedAdminMixin
from students.models import Enrollment

from .models import Course, Order


@admin.register(Course)
class CourseAdmin(CampusScopedAdminMixin, SimpleHistoryAdmin):
    list_display = ("code", "name", "course_type", "campus", "lessons", "price", "starts_at", "ends_at")
    list_filter = ("course_type", "campus")
    search_fields = ("code", "name")
    date_hierarchy = "starts_at"
    list_select_related = ("campus",)


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
    search_fields = ("order_no", "gateway_trade_no", "student__user__name", "student__user__phone")
    date_hierarchy = "paid_at"
    list_select_related = ("student__user", "course")
    # Money fields follow payments and refunds, never a hand edit.
    readonly_fields = ("refunded_total", "status", "created_at")
    raw_id_fields = ("student", "course")
    inlines = [EnrollmentInline]
