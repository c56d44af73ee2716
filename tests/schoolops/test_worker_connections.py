"""A worker keeps its database connection from one task to the next, as a web process does from
one request to the next, and drops it when Django would (past CONN_MAX_AGE, broken, left in a
transaction). Celery's own fixup runs here, with our settings, around a task that is not eager."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from celery.fixups.django import DjangoWorkerFixup
from django.db import connection

from schoolops.celery import app, connections_checked

pytestmark = pytest.mark.django_db(transaction=True)


def _task() -> SimpleNamespace:
    return SimpleNamespace(request=SimpleNamespace(is_eager=False))


def _run_task(fixup: DjangoWorkerFixup) -> int:
    """One task's life as the worker sees it: Celery's prerun, ours, a query, Celery's postrun."""
    task = _task()
    fixup.on_task_prerun(sender=task)
    connections_checked(sender=task)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()" if connection.vendor == "postgresql" else "SELECT 1")
        backend = cursor.fetchone()[0]
    fixup.on_task_postrun(sender=task)
    return backend


def test_tasks_one_after_another_use_one_connection():
    fixup = DjangoWorkerFixup(app)
    first = _run_task(fixup)
    raw = connection.connection
    second = _run_task(fixup)
    assert raw is not None and connection.connection is raw
    assert second == first


def test_a_connection_past_its_age_is_replaced_before_the_next_task(settings):
    fixup = DjangoWorkerFixup(app)
    _run_task(fixup)
    raw = connection.connection
    connection.close_at = time.monotonic() - 1  # CONN_MAX_AGE ran out since the last task
    _run_task(fixup)
    assert connection.connection is not raw


def test_a_connection_broken_by_an_error_is_replaced_before_the_next_task():
    fixup = DjangoWorkerFixup(app)
    _run_task(fixup)
    raw = connection.connection
    raw.close()  # the server dropped it; the next task must not inherit the corpse
    connection.errors_occurred = True
    _run_task(fixup)
    assert connection.connection is not raw
    assert not connection.connection.closed
