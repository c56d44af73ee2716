"""Courses in the admin. Orders are registered by students/admin.py, with the enrollment inline
(students sit on the floor above orders)."""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from schoolops.scoping import CampusScopedAdminMixin

from .models import Course


@admin.register(Course)
class CourseAdmin(CampusScopedAdminMixin, SimpleHistoryAdmin):
    list_display = ("code", "name", "course_type", "campus", "lessons", "price", "starts_at", "ends_at")
    list_filter = ("course_type", "campus")
    search_fields = ("code", "name")
    date_hierarchy = "starts_at"
    list_select_related = ("campus",)
