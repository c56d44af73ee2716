"""The finance services queue their tasks by name (the tasks import the services, not the other way)."""

from celery import current_app

from finance import tasks
from finance.exports import RUN_EXPORT_TASK
from finance.receipts import ISSUE_RECEIPT_TASK


def test_the_services_name_the_tasks_that_run_them():
    assert current_app.tasks[RUN_EXPORT_TASK].name == tasks.run_export.name == RUN_EXPORT_TASK
    assert current_app.tasks[ISSUE_RECEIPT_TASK].name == tasks.issue_receipt.name == ISSUE_RECEIPT_TASK
