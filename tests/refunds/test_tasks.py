"""The lifecycle's clock runs from Celery beat: the schedule names real tasks that do the work."""

from __future__ import annotations

import datetime

import pytest
from django.conf import settings
from django.utils import timezone

from refunds.models import ApprovalStep, RefundTransition
from refunds.tasks import escalate_overdue_steps, expire_waiting_requests
from schoolops.celery import app

from .helpers import order_at, submit

pytestmark = pytest.mark.django_db


def test_every_scheduled_job_is_a_registered_task():
    app.loader.import_default_modules()
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in app.tasks


def test_escalation_task_escalates_an_overdue_step_once(student, homeroom, supervisor, campus):
    request = submit(order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00"))
    ApprovalStep.objects.filter(request=request).update(due_at=timezone.now() - datetime.timedelta(minutes=1))
    assert escalate_overdue_steps.apply().get() == 1
    assert escalate_overdue_steps.apply().get() == 0
    step = ApprovalStep.objects.get(request=request)
    assert step.escalated_to == supervisor
    assert RefundTransition.objects.filter(request=request, name="escalate").count() == 1


def test_expiry_task_leaves_a_fresh_request_alone(student, homeroom, campus):
    submit(order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00"), reason="other", details="")
    assert expire_waiting_requests.apply().get() == 0
