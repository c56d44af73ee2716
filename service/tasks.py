"""The student-service beat."""

from __future__ import annotations

from celery import shared_task

from . import planner


@shared_task
def plan_service_tasks() -> dict[str, int]:
    """Make the tasks that are due, ask and remind, close and escalate (see ``service.planner``)."""
    return planner.service_plan().as_dict()
