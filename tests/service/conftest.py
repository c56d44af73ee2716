"""The service tests' cast: the campus's homeroom teachers and their students with enrollments, and
tasks made directly (the planner's rules have their own tests)."""

from __future__ import annotations

import datetime
import importlib
from typing import Any

import pytest
from django.apps import apps
from django.utils import timezone

from orders.models import Order
from schoolops.models import Staff, StaffRole
from service.models import Script, ServiceTask, TaskKind, TaskStatus
from tests import factories


def at(text: str) -> datetime.datetime:
    """A moment on the school's clock (Asia/Shanghai)."""
    return datetime.datetime.fromisoformat(text).replace(tzinfo=timezone.get_default_timezone())


def make_task(
    order: Order,
    *,
    kind: str = TaskKind.FIRST_CONTACT,
    due_at: datetime.datetime | None = None,
    trigger: str = "",
    status: str = TaskStatus.OPEN,
    facts: dict[str, Any] | None = None,
    **extra: Any,
) -> ServiceTask:
    """A task of the order's enrollment, for its homeroom teacher (done/closed ones with a time)."""
    enrollment = order.enrollment
    now = timezone.now()
    values: dict[str, Any] = {
        "enrollment": enrollment,
        "student_id": order.student_id,
        "campus_id": order.course.campus_id,
        "teacher_id": enrollment.homeroom_teacher_id,
        "kind": kind,
        "trigger": trigger,
        "due_at": due_at or now + datetime.timedelta(hours=3),
        "status": status,
        "facts": facts or {},
        "created_at": now - datetime.timedelta(hours=1),
    }
    if status != TaskStatus.OPEN:
        values["done_at"] = now - datetime.timedelta(minutes=30)
    values.update(extra)
    return ServiceTask.objects.create(**values)


def enrolled(campus, teacher: Staff, *, name: str = "", phone: str | None = None, **enrollment: Any) -> Order:
    """A new student of ``teacher`` with one paid order of a course of ``campus``."""
    student = factories.make_student(campus=campus, name=name, phone=phone)
    course = factories.make_course(campus=campus)
    return factories.make_order(student=student, course=course, homeroom_teacher=teacher, **enrollment)


def seed_scripts() -> None:
    """The script library as migration 0003 ships it (a transactional test's flush empties it)."""
    if not Script.objects.exists():
        importlib.import_module("service.migrations.0003_script_library").seed(apps, None)


FIGURES = {
    "completion": "45",
    "lessons_consumed": 9,
    "lessons": 20,
    "watch_progress": "47.50",
    "homework_rate": "40",
    "tests_taken": 2,
    "test_score_avg": "82.00",
    "rating": 4,
    "last_learning_at": "2026-11-20 20:15",
    "days_inactive": 8,
}


@pytest.fixture
def colleague(campus, supervisor):
    """Another homeroom teacher of the campus, in the same supervisor's team."""
    return factories.make_staff(role=StaffRole.HOMEROOM, campus=campus, manager=supervisor, name="周老师")


@pytest.fixture
def other_supervisor(campus, campus_head):
    return factories.make_staff(role=StaffRole.SUPERVISOR, campus=campus, manager=campus_head, name="冯主管")


@pytest.fixture
def other_team_teacher(campus, other_supervisor):
    """A homeroom teacher of the campus in the other supervisor's team."""
    return factories.make_staff(role=StaffRole.HOMEROOM, campus=campus, manager=other_supervisor, name="郑老师")


@pytest.fixture
def agent(campus, supervisor):
    return factories.make_staff(role=StaffRole.SERVICE, campus=campus, manager=supervisor, name="客服小林")


@pytest.fixture
def superuser(db):
    return factories.make_user(name="管理员", is_superuser=True, is_staff=True)


@pytest.fixture
def first_contact(order) -> ServiceTask:
    """王小明's first-contact task for 孙老师, due in three hours."""
    return make_task(order, kind=TaskKind.FIRST_CONTACT)


@pytest.fixture
def south_order(other_campus, other_campus_homeroom) -> Order:
    return enrolled(other_campus, other_campus_homeroom, name="刘小华")


@pytest.fixture
def south_task(south_order) -> ServiceTask:
    return make_task(south_order)


@pytest.fixture
def clock(monkeypatch):
    """Pins the clock the pages read (``timezone.now``) to a moment: ``clock(at("..."))``."""

    def pin(moment: datetime.datetime) -> datetime.datetime:
        monkeypatch.setattr(timezone, "now", lambda: moment)
        return moment

    return pin


def logged_in(client, staff_or_user):
    user = getattr(staff_or_user, "user", staff_or_user)
    client.force_login(user)
    return client
