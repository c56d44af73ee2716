"""Celery tasks of the service desk: thin wrappers around the services."""

from celery import shared_task

from . import services


@shared_task
def escalate_tickets() -> int:
    """Beat, every 5 minutes: escalate the tickets about to breach or breached, once per level."""
    return services.tickets_escalate()
