"""Celery tasks of analytics (the facts, the weekly review): thin wrappers around the services."""

from celery import shared_task

from . import alerts, services, weekly


@shared_task
def refresh_recent_facts() -> int:
    """Refresh yesterday's and today's facts of every campus (orders' revenue has no event)."""
    return services.facts_refresh_recent()


@shared_task(name=services.REFRESH_FOR_EVENT_TASK)
def refresh_facts_for_event(event_id: int) -> int:
    """Refresh the facts a refund event touched (queued by the event listener after the commit)."""
    return services.facts_refresh_for_event(event_id)


@shared_task(name=services.REFRESH_SLICES_TASK)
def refresh_facts_for_slices(slices: list[tuple[str, int]]) -> int:
    """Refresh the (day, campus) revenue slices the order intake touched (queued by its news writer)."""
    return services.facts_refresh_slices(slices)


@shared_task
def run_alert_rules() -> int:
    """The nightly run of the alert rules (yesterday, and any day missed since the last run)."""
    return alerts.alert_rules_run()


@shared_task
def look_for_spikes_today() -> int:
    """The hourly look at today's applications so far."""
    return alerts.alert_spikes_today()


@shared_task
def send_weekly_reviews() -> int:
    """Beat, Mondays 08:00 Asia/Shanghai: make last week's reviews and send them (idempotent)."""
    return weekly.weekly_reviews_send()
