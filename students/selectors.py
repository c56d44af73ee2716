"""Reads of the students app shared by its services and pages."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Count, F, Q

from orders.models import ACTIVE_ORDER_STATUSES, Course
from schoolops.models import Staff, StaffRole

from .models import HomeroomAssignment


def homeroom_teachers_by_username(*, usernames: Iterable[str]) -> dict[str, Staff]:
    """The active homeroom teachers among ``usernames`` (with user and campus), by username."""
    names = sorted(set(usernames))
    if not names:
        return {}
    teachers = (
        Staff.objects.active().of_role(StaffRole.HOMEROOM).filter(user__username__in=names).select_related("user")
    )
    return {teacher.user.username: teacher for teacher in teachers}


@dataclass
class _Load:
    teacher: Staff
    enrollments: int


@dataclass
class HomeroomChooser:
    """Picks the homeroom teacher of new enrollments at some campuses.

    The course's rule, else the campus's rule (``HomeroomAssignment``), else the campus's active
    homeroom teacher with the fewest active enrollments (orders paid or partially refunded), ties
    by id. Rules whose teacher is inactive, no longer a homeroom teacher or at another campus are
    passed over. Two queries for any number of campuses; every enrollment handed out counts
    towards the next choice, so a batch of new orders is spread as if they had come one by one.
    """

    by_course: dict[int, Staff] = field(default_factory=dict)
    by_campus: dict[int, Staff] = field(default_factory=dict)
    loads: dict[int, list[_Load]] = field(default_factory=dict)  # by campus id

    @classmethod
    def for_campuses(cls, campus_ids: Iterable[int]) -> HomeroomChooser:
        ids = sorted(set(campus_ids))
        chooser = cls()
        if not ids:
            return chooser
        rules = HomeroomAssignment.objects.filter(
            campus_id__in=ids,
            teacher__user__is_active=True,
            teacher__role=StaffRole.HOMEROOM,
            teacher__campus_id=F("campus_id"),
        ).select_related("teacher__user")
        for rule in rules:
            if rule.course_id is None:
                chooser.by_campus[rule.campus_id] = rule.teacher
            else:
                chooser.by_course[rule.course_id] = rule.teacher
        teachers = (
            Staff.objects.active()
            .of_role(StaffRole.HOMEROOM)
            .filter(campus_id__in=ids)
            .annotate(load=Count("enrollments", filter=Q(enrollments__order__status__in=ACTIVE_ORDER_STATUSES)))
            .select_related("user")
            .order_by("campus_id", "load", "pk")
        )
        for teacher in teachers:
            chooser.loads.setdefault(teacher.campus_id, []).append(_Load(teacher, teacher.load))
        return chooser

    def choose(self, course: Course, *, counted: bool = True) -> Staff | None:
        """The teacher for a new enrollment in ``course``, or None when its campus has none;
        ``counted`` (an active enrollment: not of a cancelled order) adds it to her load."""
        teacher = self.by_course.get(course.pk) or self.by_campus.get(course.campus_id)
        if teacher is None:
            candidates = self.loads.get(course.campus_id)
            if not candidates:
                return None
            teacher = min(candidates, key=lambda load: (load.enrollments, load.teacher.pk)).teacher
        if counted:
            self.count(teacher)
        return teacher

    def count(self, teacher: Staff) -> None:
        """One more active enrollment for ``teacher`` (chosen here, or named on the order)."""
        for load in self.loads.get(teacher.campus_id, []):
            if load.teacher.pk == teacher.pk:
                load.enrollments += 1
                return
