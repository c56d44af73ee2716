"""Celery beat job of the analytics facts: a thin wrapper around the services."""

from celery import shared_task

from . import services


@shared_task
def refresh_recent_facts() -> int:
    """Refresh yesterday's and today's facts of every campus (orders' revenue has no event)."""
    return services.facts_refresh_recent()
