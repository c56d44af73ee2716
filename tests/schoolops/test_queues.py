"""Payouts, notifications and documents each have a queue of their own; the rest go to the default."""

from __future__ import annotations

import pytest

from schoolops import queues
from schoolops.celery import app


@pytest.mark.parametrize(
    ("task", "queue"),
    [
        ("payments.tasks.execute_payout", queues.PAYOUTS),
        ("payments.tasks.check_payouts", queues.PAYOUTS),
        ("notifications.tasks.deliver_notifications", queues.NOTIFICATIONS),
        ("notifications.tasks.deliver_notification", queues.NOTIFICATIONS),
        ("notifications.tasks.send_pending_notifications", queues.NOTIFICATIONS),
        ("finance.tasks.issue_receipt", queues.DOCUMENTS),
        ("finance.tasks.run_export", queues.DOCUMENTS),
        ("analytics.tasks.refresh_facts_for_slices", queues.DEFAULT),
        ("refunds.tasks.escalate_overdue_steps", queues.DEFAULT),
    ],
)
def test_each_task_goes_to_its_queue(task, queue):
    app.loader.import_default_modules()  # every app's tasks, as a worker loads them
    assert task in app.tasks
    assert app.amqp.router.route({}, task, (), {})["queue"].name == queue


def test_a_prefix_moves_the_whole_set():
    routes = queues.task_routes(prefix="bench-1.")
    assert routes["payments.tasks.*"] == {"queue": "bench-1.payouts"}
    assert queues.queue_names(prefix="bench-1.") == [
        "bench-1.payouts",
        "bench-1.notifications",
        "bench-1.documents",
        "bench-1.celery",
    ]
