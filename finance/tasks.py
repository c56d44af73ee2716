"""Thin Celery wrappers: they take primary keys and call the finance services."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_export(job_id: int) -> None:
    """Prepare a large export in the background; the file is offered for download when ready."""
    from .exports import export_job_run

    export_job_run(job_id=job_id)


@shared_task(acks_late=True, reject_on_worker_lost=True, autoretry_for=(OSError,), max_retries=5, retry_backoff=True)
def issue_receipt(request_id: int) -> None:
    """Issue the e-receipt of a refunded request (does nothing if it exists)."""
    from .receipts import receipt_issue

    receipt_issue(request_id=request_id)
