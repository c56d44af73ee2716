"""Real Celery workers in their own processes, for the tests that kill one mid-payout and for
the payout benchmark. Not used by the product itself."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

from django.conf import settings
from django.db import connection

from schoolops import queues
from schoolops.celery import app as celery_app

ROOT = Path(settings.BASE_DIR)


def database_url() -> str:
    """The URL of the database this test uses (pytest-django's test database)."""
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def worker_env(*, sim, notify_base_url: str, **extra: str) -> dict[str, str]:
    """The environment of a worker pointed at this test's database, Redis and simulator."""
    env = {**os.environ, "DATABASE_URL": database_url(), "DJANGO_DEBUG": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("CELERY_BROKER_URL", None)
    for block, values in sim.settings_values().items():
        for key, value in values.items():
            env[f"{block}_{key}"] = value
    env["PAYMENTS_NOTIFY_BASE_URL"] = notify_base_url
    env.update(extra)
    return env


class WorkerProcess:
    """``celery worker`` consuming ``queue``'s set of queues (``consumes``: only those of
    ``schoolops.queues``' names; default every one), as a child process that can be killed outright."""

    def __init__(
        self,
        *,
        queue: str,
        env: dict[str, str],
        log_dir: Path,
        concurrency: int = 1,
        consumes: tuple[str, ...] = queues.ALL,
    ) -> None:
        self.queue = queue
        self.consumes = consumes
        self.env = env
        self.log_dir = log_dir
        self.concurrency = concurrency
        self.process: subprocess.Popen | None = None
        self.log_path: Path | None = None

    def start(self, *, timeout: float = 60.0) -> WorkerProcess:
        name = f"w{uuid.uuid4().hex[:8]}"
        self.log_path = self.log_dir / f"worker-{name}.log"
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "schoolops",
            "worker",
            "-Q",
            ",".join(routed_queues(self.queue, self.consumes)),
            "-n",
            f"{name}@%h",
            "-c",
            str(self.concurrency),
            "-P",
            "prefork" if self.concurrency > 1 else "solo",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "info",
        ]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited with {self.process.returncode}:\n{self.log()}")
            if b" ready." in self.log_path.read_bytes():
                return self
            time.sleep(0.1)
        raise RuntimeError(f"worker not ready after {timeout}s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL the whole worker: no shutdown, no acknowledgement, nothing saved."""
        if self.process is None:
            raise RuntimeError("the worker was never started")
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:] if self.log_path else ""


class WebProcess:
    """The app under gunicorn with production's config (``deploy/gunicorn.conf.py``: sync workers,
    each keeping its database connection) on a free loopback port, as the gateways' callbacks reach
    it in production. ``url`` is known before it starts, for the environment that names it."""

    def __init__(self, *, log_dir: Path, workers: int = 2) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"web-{self.port}.log"
        self.workers = workers
        self.process: subprocess.Popen | None = None

    def start(self, *, env: dict[str, str], timeout: float = 60.0) -> WebProcess:
        env = {**env, "GUNICORN_BIND": f"127.0.0.1:{self.port}", "WEB_CONCURRENCY": str(self.workers)}
        command = [
            str(Path(sys.executable).parent / "gunicorn"),
            "-c",
            str(ROOT / "deploy" / "gunicorn.conf.py"),
            "--access-logfile",
            "/dev/null",
            "schoolops.wsgi:application",
        ]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own virtualenv's gunicorn
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:  # noqa: S310 - loopback
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn not answering after {timeout}s:\n{self.log()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:] if self.log_path.exists() else ""


def queue_prefix(queue: str) -> str:
    """The prefix of the set of queues named after ``queue`` (``queue`` itself is its default one)."""
    return f"{queue}."


def routed_queues(queue: str, which: tuple[str, ...] = queues.ALL) -> list[str]:
    """The Redis queues of ``queue``'s set: ``queue`` for the default, ``queue.payouts`` and so on."""
    return [queue if name == queues.DEFAULT else queues.queue_name(name, prefix=queue_prefix(queue)) for name in which]


def route_tasks_to(queue: str) -> dict:
    """Send this process's tasks to ``queue``'s set of queues on Redis (routed as in production:
    payouts to ``queue.payouts`` and so on) instead of running them eagerly."""
    overrides = {
        "broker_url": os.environ["REDIS_URL"],
        "task_always_eager": False,
        "task_default_queue": queue,
        "task_routes": queues.task_routes(prefix=queue_prefix(queue)),
    }
    saved = {key: celery_app.conf[key] for key in overrides}
    celery_app.conf.update(overrides)
    return saved


def queue_env(queue: str) -> dict[str, str]:
    """A worker's environment for ``queue``'s set: what it queues itself is routed the same way."""
    return {"CELERY_TASK_DEFAULT_QUEUE": queue, "CELERY_QUEUE_PREFIX": queue_prefix(queue)}


def purge_queue(queue: str) -> None:
    """Empty and delete ``queue``'s whole set."""
    with celery_app.connection_for_write() as conn:
        for name in routed_queues(queue):
            bound = celery_app.amqp.queues[name](conn.default_channel)
            bound.declare()
            bound.purge()
            bound.delete()
