"""Thin Celery wrappers: they take primary keys and call the finance services.

The services queue these by name (``RUN_EXPORT_TASK``, ``ISSUE_RECEIPT_TASK``) so that imports
run one way, tasks to services; ``FinanceConfig.ready`` imports this module so the names are
registered in the web process too, not only in the worker.
"""

from __future__ import annotations

from celery import shared_task

from .exports import RUN_EXPORT_TASK, export_job_run
from .receipts import ISSUE_RECEIPT_TASK, receipt_issue


@shared_task(name=RUN_EXPORT_TASK, acks_late=True, reject_on_worker_lost=True)
def run_export(job_id: int) -> None:
    """Prepare a large export in the background; the file is offered for download when ready."""
    export_job_run(job_id=job_id)


@shared_task(
    name=ISSUE_RECEIPT_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OSError,),
    max_retries=5,
    retry_backoff=True,
)
def issue_receipt(request_id: int) -> None:
    """Issue the e-receipt of a refunded request (does nothing if it exists)."""
    receipt_issue(request_id=request_id)
