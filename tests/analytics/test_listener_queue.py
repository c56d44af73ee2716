"""The refund event listener hands the refresh to a worker by the task's registered name, and a
broker that is down costs the acting person nothing."""

from __future__ import annotations

import logging

import pytest
from celery import current_app

from analytics import services
from analytics.services import REFRESH_FOR_EVENT_TASK, facts_on_refund_event
from refunds.models import RefundEvent


def _unsaved_event() -> RefundEvent:
    """An event as the listener gets it (the listener reads, never queries)."""
    return RefundEvent(pk=12345, kind="submitted", payload={})


def test_the_listener_queues_the_registered_task():
    assert REFRESH_FOR_EVENT_TASK in current_app.tasks


def test_a_broker_that_is_down_is_logged_not_raised(monkeypatch, caplog):
    task = current_app.tasks[REFRESH_FOR_EVENT_TASK]
    calls = []

    def refused(*args, **kwargs):
        calls.append(args)
        raise ConnectionError("broker down")

    monkeypatch.setattr(task, "delay", refused)
    with caplog.at_level(logging.WARNING, logger=services.logger.name):
        facts_on_refund_event(_unsaved_event())
    assert calls == [(12345,)]
    assert "not refreshed now" in caplog.text


def test_a_paused_listener_queues_nothing(monkeypatch):
    task = current_app.tasks[REFRESH_FOR_EVENT_TASK]
    monkeypatch.setattr(task, "delay", lambda *a, **k: pytest.fail("queued while paused"))
    with services.facts_listener_paused():
        facts_on_refund_event(_unsaved_event())


@pytest.mark.django_db
def test_with_workers_the_events_of_a_day_and_campus_are_gathered_into_one_refresh(
    monkeypatch, settings, student, homeroom, campus
):
    from django.core.cache import cache

    from tests.refunds.helpers import order_at, submit

    cache.clear()
    settings.ANALYTICS_REFRESH_DELAY_SECONDS = 10
    first = submit(order_at(student=student, homeroom=homeroom, campus=campus, price="300.00"))
    second = submit(order_at(student=student, homeroom=homeroom, campus=campus, price="500.00"))
    events = list(RefundEvent.objects.filter(request__in=[first, second]).select_related("request"))
    assert len(events) >= 2
    queued = []
    monkeypatch.setitem(current_app.conf, "task_always_eager", False)
    monkeypatch.setattr(
        current_app.tasks[services.REFRESH_SLICES_TASK],
        "apply_async",
        lambda args, countdown: queued.append((args, countdown)),
    )

    for event in events:
        facts_on_refund_event(event)

    today = services.local_day(first.submitted_at).isoformat()
    assert queued == [(([(today, campus.pk)],), 11)]
