"""The standing cast every test can call on, and the checks that keep service tests honest."""

from __future__ import annotations

import os

import pytest
from django.db import connection

from schoolops.models import StaffRole

from . import factories


def pytest_collection_modifyitems(config, items):
    """A test marked postgres or redis fails (never skips) when its service is not configured."""
    for item in items:
        if item.get_closest_marker("postgres"):
            item.fixturenames.append("_require_postgres")
        if item.get_closest_marker("redis"):
            item.fixturenames.append("_require_redis")


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    """Real hashing costs ~0.3 s a user; tests check behaviour, not hash strength."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def _require_postgres(db):
    if connection.vendor != "postgresql":
        pytest.fail("This test needs PostgreSQL: set DATABASE_URL (make test does).")


@pytest.fixture
def _require_redis():
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.fail("This test needs Redis: set REDIS_URL (make test does).")
    import redis

    try:
        redis.Redis.from_url(url).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {url} is not reachable: {exc}")


@pytest.fixture
def campus(db):
    return factories.make_campus(code="north", name="北京海淀校区")


@pytest.fixture
def other_campus(db):
    return factories.make_campus(code="south", name="上海徐汇校区")


@pytest.fixture
def campus_head(campus):
    return factories.make_staff(role=StaffRole.CAMPUS_HEAD, campus=campus, name="赵校长")


@pytest.fixture
def supervisor(campus, campus_head):
    return factories.make_staff(role=StaffRole.SUPERVISOR, campus=campus, manager=campus_head, name="钱主管")


@pytest.fixture
def homeroom(campus, supervisor):
    return factories.make_staff(role=StaffRole.HOMEROOM, campus=campus, manager=supervisor, name="孙老师")


@pytest.fixture
def finance(campus):
    return factories.make_staff(role=StaffRole.FINANCE, campus=campus, name="李会计")


@pytest.fixture
def operations(campus):
    return factories.make_staff(role=StaffRole.OPERATIONS, campus=campus, name="周运营")


@pytest.fixture
def outsider(db):
    """Logged in, but neither a student nor staff."""
    return factories.make_user(name="路人")


@pytest.fixture
def other_campus_homeroom(other_campus):
    return factories.make_staff(role=StaffRole.HOMEROOM, campus=other_campus, name="吴老师")


@pytest.fixture
def student(campus):
    return factories.make_student(campus=campus, name="王小明", phone="13800138000")


@pytest.fixture
def other_student(campus):
    return factories.make_student(campus=campus, name="陈小红", phone="13900139000")


@pytest.fixture
def course(campus):
    return factories.make_course(campus=campus)


@pytest.fixture
def order(student, course, homeroom):
    return factories.make_order(student=student, course=course, homeroom_teacher=homeroom)
