"""Payout tests talk to the gateway simulator over HTTPS; callbacks come back to a live server."""

from __future__ import annotations

import uuid

import pytest

from gatewaysim.testing import callback_receiver, gateway_settings, gateway_sim  # noqa: F401
from payments.testing import WorkerProcess, purge_queue, queue_env, route_tasks_to, worker_env
from schoolops import queues
from schoolops.celery import app as celery_app

# Short backoffs and leases for tests with real workers, so they wait seconds, not minutes; the
# visibility timeout stays above the longest backoff, as in production.
FAST = {
    "PAYOUT_RETRY_BASE_SECONDS": "0.2",
    "PAYOUT_RETRY_MAX_SECONDS": "2",
    "PAYOUT_LEASE_SECONDS": "3",
    "PAYOUT_CHECK_AFTER_SECONDS": "0",
    "CELERY_VISIBILITY_TIMEOUT": "6",
}


@pytest.fixture
def gateways(transactional_db, gateway_settings, settings, live_server, default_refund_policies):  # noqa: F811
    """The simulator, with its callbacks coming back to this test's live server.

    Torn down before the database (it asks for it): the simulator is reset, its pending and
    running callbacks finished, before the flush, so none lands in the middle of it.
    """
    settings.PAYMENTS_NOTIFY_BASE_URL = live_server.url
    gateway_settings.alipay_notify_url = live_server.url + "/payments/alipay/notify/"
    yield gateway_settings
    gateway_settings.reset()


@pytest.fixture
def queue(_require_redis):
    """A Redis queue of this test's own, purged afterwards."""
    name = f"payouts-{uuid.uuid4().hex}"
    saved = route_tasks_to(name)
    yield name
    celery_app.conf.update(saved)
    purge_queue(name)


@pytest.fixture
def start_worker(queue, gateways, live_server, tmp_path, settings):
    """Start real Celery worker processes on ``queue`` (``FAST`` timings, the simulator's settings,
    callbacks to the live server); every one is stopped at the end."""
    for key, value in FAST.items():
        setattr(settings, key, float(value) if "." in value else int(value))
    started: list[WorkerProcess] = []

    def start(*, consumes: tuple[str, ...] = queues.ALL, **extra: str) -> WorkerProcess:
        env = worker_env(sim=gateways, notify_base_url=live_server.url, **queue_env(queue), **FAST, **extra)
        worker = WorkerProcess(queue=queue, env=env, log_dir=tmp_path, consumes=consumes).start()
        started.append(worker)
        return worker

    yield start
    gateways.release()  # a held gateway answer must not keep a stopping worker waiting
    for worker in started:
        worker.stop()
