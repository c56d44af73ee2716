"""The Celery application. Tasks run eagerly unless a broker URL is configured.

Database connections outlive a task, as they outlive a web request. Celery's Django fixup closes
every connection before and after each task unless ``CELERY_DB_REUSE_MAX`` is set; a new
PostgreSQL connection costs its server process more CPU than a payout's whole booking. So the
setting is on (settings), and before each task the worker does what Django does before each
request: it closes a connection past ``CONN_MAX_AGE``, one broken by an error, or one left in a
transaction, and the task's first query checks the connection (``CONN_HEALTH_CHECKS``) and
reconnects if the server has dropped it.
"""

import os

from celery import Celery
from celery.signals import task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "schoolops.settings")

app = Celery("schoolops")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
def connections_checked(sender=None, **kwargs) -> None:
    """Before a worker's task: the connections a web request would find (``close_old_connections``)."""
    if sender is not None and getattr(sender.request, "is_eager", False):
        return  # run inside the caller's request or transaction: its connection is the caller's
    from django.db import close_old_connections

    close_old_connections()
