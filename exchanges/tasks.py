"""Celery beat job of course exchanges: a thin wrapper around the service."""

from celery import shared_task

from . import services


@shared_task
def settle_exchanges() -> int:
    """Move on exchanges left behind their request, and lapse unpaid differences past their deadline."""
    return services.exchanges_settle()
