"""docker-compose.yml's shape: PgBouncer in transaction mode in front of PostgreSQL, every app
service connecting through it, one worker service per Celery queue, exactly one beat.

Read as text (PyYAML is not among the test requirements): the file keeps the plain two-space
layout these helpers expect, which these tests hold it to as well."""

from __future__ import annotations

import json
import re
from pathlib import Path

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
QUEUE_SERVICES = {
    "worker-payouts": "payouts",
    "worker-notifications": "notifications",
    "worker-documents": "documents",
    "worker-default": "celery",
}


def blocks(text: str, indent: str) -> dict[str, list[str]]:
    """The keys at ``indent`` and the lines under each (until the next key at that indent)."""
    found: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        match = re.fullmatch(rf"{indent}([\w.-]+):.*", line)
        if match:
            current = match.group(1)
            found[current] = [line]
        elif current and (line.startswith(indent + " ") or not line.strip() or line.lstrip().startswith("#")):
            found[current].append(line)
        else:
            current = None
    return found


def services() -> dict[str, list[str]]:
    text = COMPOSE.read_text()
    section = text[text.index("\nservices:\n") : text.index("\nvolumes:\n")]
    return blocks(section, "  ")


def command(lines: list[str]) -> list[str]:
    """A service's command, written as a flow list or as a block list."""
    for i, line in enumerate(lines):
        if line.startswith("    command:"):
            inline = line.split(":", 1)[1].strip()
            if inline:
                return json.loads(inline)
            items = []
            for item in lines[i + 1 :]:
                if not item.startswith("      - "):
                    break
                items.append(item.removeprefix("      - ").strip())
            return items
    return []


def value(lines: list[str], key: str) -> str:
    for line in lines:
        match = re.fullmatch(rf"\s+{key}: (.*)", line)
        if match:
            return match.group(1).strip()
    raise AssertionError(f"{key} not found")


def test_each_queue_has_its_own_worker_service():
    found = {name: command(lines) for name, lines in services().items() if name.startswith("worker")}
    assert set(found) == set(QUEUE_SERVICES)  # the single "worker" service is gone
    for name, queue in QUEUE_SERVICES.items():
        args = found[name]
        assert args[:4] == ["celery", "-A", "schoolops", "worker"]
        assert args[args.index("-Q") + 1] == queue
        assert any(a.startswith("--concurrency=${WORKER_") for a in args), args
    assert "--concurrency=${WORKER_PAYOUTS_CONCURRENCY:-2}" in found["worker-payouts"]
    assert "--concurrency=${WORKER_DOCUMENTS_CONCURRENCY:-1}" in found["worker-documents"]


def test_there_is_exactly_one_beat():
    beats = [name for name, lines in services().items() if "beat" in command(lines)]
    assert beats == ["beat"]
    assert "replicas" not in "".join(services()["beat"])


def test_pgbouncer_pools_in_transaction_mode_in_front_of_postgres():
    lines = services()["pgbouncer"]
    image = value(lines, "image")
    assert re.fullmatch(r"edoburu/pgbouncer:\d+\.\d+\.\d+", image)  # a pinned tag
    assert value(lines, "POOL_MODE") == "transaction"
    assert value(lines, "DB_HOST") == "db"


def test_the_app_services_connect_through_pgbouncer():
    text = COMPOSE.read_text()
    anchor = blocks(text, "")["x-app"]
    assert value(anchor, "DATABASE_URL").split("@")[1].startswith("pgbouncer:5432/")
    assert value(anchor, "DATABASE_POOLER") == "transaction"
    app_services = {name for name, lines in services().items() if "    <<: *app" in lines}
    assert app_services == {"web", "beat", *QUEUE_SERVICES}
    for name in app_services:
        assert not any("DATABASE_URL" in line for line in services()[name]), name  # none overrides it
