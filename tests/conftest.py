"""The standing cast every test can call on, and the checks that keep service tests honest."""

from __future__ import annotations

import os
import uuid

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.db import connection, connections
from django.utils import timezone

from payments.callbacks_refused import counter_keys
from payments.testing import purge_queue, route_tasks_to, routed_queues
from schoolops.celery import app as celery_app
from schoolops.models import StaffRole

from . import factories


def pytest_collection_modifyitems(config, items):
    """A test marked postgres or redis fails (never skips) when its service is not configured."""
    for item in items:
        if item.get_closest_marker("postgres"):
            item.fixturenames.append("_require_postgres")
        if item.get_closest_marker("redis"):
            item.fixturenames.append("_require_redis")


# Real hashing costs ~0.3 s a user; tests check behaviour, not hash strength.
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = FAST_HASHERS


@pytest.fixture(autouse=True)
def _fresh_refused_callback_counters():
    """Refused gateway callbacks are counted per address and hour in the cache, which ``make test``
    keeps in Redis across runs: every test starts from zero for the test client's and the live
    server's address (127.0.0.1)."""
    cache.delete_many(counter_keys("127.0.0.1", at=timezone.now()))


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


@pytest.fixture(autouse=True)
def _celery_eager_by_default():
    """Tasks run in-process unless a test asks for a real worker (``celery_worker_queue``).

    ``make test`` sets REDIS_URL, which turns eager mode off; a task queued by an ordinary test
    would then wait in Redis for a worker that never comes.
    """
    saved = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = saved


def _close_worker_connections(**kwargs) -> None:
    """The worker thread opens its own database connection; close it so the test database can be dropped."""
    connections.close_all()


@pytest.fixture
def celery_worker_queue(_require_redis):
    """A Celery worker thread consuming a queue of its own on Redis, with eager mode off meanwhile."""
    queue = f"test-{uuid.uuid4().hex}"
    saved = route_tasks_to(queue)  # routed as in production, to this test's set of queues
    task_postrun.connect(_close_worker_connections, weak=False)
    try:
        with start_worker(
            celery_app, pool="solo", perform_ping_check=False, queues=routed_queues(queue), shutdown_timeout=30
        ):
            yield queue
        # Leave no bindings behind in Redis: the channel forgets them unless the queue is declared on it.
        purge_queue(queue)
    finally:
        task_postrun.disconnect(_close_worker_connections)
        celery_app.conf.update(saved)


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
    """Head-office operations: the grant to see every campus is the person's, not the role's."""
    staff = factories.make_staff(role=StaffRole.OPERATIONS, campus=campus, name="周运营")
    staff.user.user_permissions.add(
        Permission.objects.get(content_type__app_label="schoolops", codename="view_all_campuses")
    )
    return staff


@pytest.fixture
def campus_operations(campus):
    """Operations of one campus (no head-office grant): her campus only, like every staff member."""
    return factories.make_staff(role=StaffRole.OPERATIONS, campus=campus, name="吴运营")


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


@pytest.fixture
def default_refund_policies(transactional_db) -> None:
    """The refund policies and holiday calendar the migrations seed, present whatever ran before.

    Transactional tests (live_server, threads, real workers) end with a flush that empties every
    table, seeded rows included, and serialized_rollback cannot put them back for a live server
    thread. The migrations' own seed functions put back what the product ships; they skip what
    is already there.
    """
    reseed_shipped_data()


@pytest.fixture
def shipped_data(db) -> None:
    """``default_refund_policies`` for ordinary (non-transactional) tests, notification
    templates included."""
    reseed_shipped_data(templates=True)


def reseed_shipped_data(*, templates: bool = False) -> None:
    import importlib

    from django.apps import apps

    from notifications.models import NotificationTemplate
    from payments.models import CalendarDay
    from refunds.models import RefundPolicy

    if not RefundPolicy.objects.filter(is_active=True).exists():
        importlib.import_module("refunds.migrations.0002_seed_default_policies").seed(apps, None)
    if not CalendarDay.objects.exists():
        importlib.import_module("payments.migrations.0002_holiday_calendar").seed(apps, None)
    if templates and not NotificationTemplate.objects.exists():
        for name in sorted(SEEDING_MIGRATIONS):
            importlib.import_module(name).seed(apps, None)


# Migrations whose ``seed`` puts back shipped notification templates.
SEEDING_MIGRATIONS = {
    "analytics.migrations.0002_weekly_review",
    "notifications.migrations.0003_default_templates",
    "notifications.migrations.0005_finance_templates",
    "notifications.migrations.0006_closed_and_check_templates",
    "notifications.migrations.0008_exchange_templates",
    "notifications.migrations.0009_contract_amount_and_advanced",
    "notifications.migrations.0010_exchange_advanced",
    "analytics.migrations.0004_default_rules",
    "analytics.migrations.0006_weekly_review_service_part",
    "servicedesk.migrations.0002_default_templates",
    "servicedesk.migrations.0003_ratings",
    "service.migrations.0002_default_templates",
}


@pytest.fixture(scope="session")
def _replica_test_database(django_db_setup, django_db_blocker):
    """The replica's test database, made once per run (only if a test asks for it)."""
    from .replica import replica_create, replica_destroy

    if connections["default"].vendor != "postgresql":
        pytest.fail("The replica tests need PostgreSQL: set DATABASE_URL (make test does).")
    with django_db_blocker.unblock():
        replica = replica_create()
    yield replica
    with django_db_blocker.unblock():
        replica_destroy(replica)


@pytest.fixture(scope="module")
def replica_database(_replica_test_database):
    """The alias ``replica`` on a second real database, for the tests of one module and gone after
    them (see ``tests/replica.py``). The module's tests declare
    ``pytest.mark.django_db(databases={"default", "replica"})``."""
    from .replica import replica_add, replica_remove

    replica_add(_replica_test_database)
    yield
    replica_remove()
