"""The refund event listener hands the refresh to a worker by the task's registered name, and a
broker that is down costs the acting person nothing."""

from __future__ import annotations

import logging

import pytest
from celery import current_app

from analytics import services
from analytics.services import REFRESH_FOR_EVENT_TASK, facts_on_refund_event


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
        facts_on_refund_event(12345)
    assert calls == [(12345,)]
    assert "not refreshed now" in caplog.text


def test_a_paused_listener_queues_nothing(monkeypatch):
    task = current_app.tasks[REFRESH_FOR_EVENT_TASK]
    monkeypatch.setattr(task, "delay", lambda *a, **k: pytest.fail("queued while paused"))
    with services.facts_listener_paused():
        facts_on_refund_event(12345)
