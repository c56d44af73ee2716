"""Celery beat jobs of the refund lifecycle: thin wrappers around the services."""

from celery import shared_task

from . import services


@shared_task
def escalate_overdue_steps() -> int:
    """Escalate approval steps past their deadline (each step once, however often this runs)."""
    return services.refund_steps_escalate()


@shared_task
def expire_waiting_requests() -> int:
    """Cancel requests that waited for the student's information too long."""
    return services.refund_requests_expire()
