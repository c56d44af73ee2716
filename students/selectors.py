"""Reads for the personal center; every lookup is scoped to the student asking."""

from __future__ import annotations

from django.db.models import QuerySet

from orders.models import Order

from .models import Student


def student_for_user(*, user) -> Student | None:
    """The student record of a logged-in user, or None for staff and strangers."""
    if not user.is_authenticated:
        return None
    return Student.objects.filter(user=user).select_related("campus", "user").first()


def order_list_for_student(*, student: Student) -> QuerySet[Order]:
    return (
        Order.objects.filter(student=student)
        .select_related("course", "course__campus", "enrollment", "enrollment__homeroom_teacher__user")
        .order_by("-paid_at")
    )
