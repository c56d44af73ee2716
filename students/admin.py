from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from orders.models import Order
from schoolops.scoping import CampusScopedAdminMixin

from .models import Enrollment, LearningEvent, Student
from .services import PROGRESS_FIELDS


@admin.register(Student)
class StudentAdmin(CampusScopedAdminMixin, SimpleHistoryAdmin):
    list_display = ("student_no", "name", "phone", "email", "campus", "created_at")
    list_filter = ("campus",)
    search_fields = ("student_no", "user__name", "user__phone", "user__email")
    list_select_related = ("user", "campus")
    raw_id_fields = ("user",)

    @admin.display(description=_("full name"), ordering="user__name")
    def name(self, obj: Student) -> str:
        return obj.name

    @admin.display(description=_("mobile phone"), ordering="user__phone")
    def phone(self, obj: Student) -> str:
        return obj.phone

    @admin.display(description=_("e-mail"), ordering="user__email")
    def email(self, obj: Student) -> str:
        return obj.email


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
    list_display = ("event_id", "kind", "enrollment", "lesson_no", "seconds", "rating", "occurred_at", "source")
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
