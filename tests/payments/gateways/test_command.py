"""``manage.py run_gateway_sim`` starts, serves a refund, and stops."""

from __future__ import annotations

import contextlib
import json
import queue
import re
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest

from payments.gateways.base import Outcome
from payments.gateways.wechat import WeChatPayGateway

ROOT = Path(__file__).resolve().parents[3]


def _read_until(process: subprocess.Popen, pattern: str, timeout: float) -> re.Match:
    """Read the command's output in a thread (select() cannot see lines already in Python's buffer)."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        with contextlib.suppress(ValueError):  # the pipe is closed when the fixture ends
            for line in process.stdout:
                lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    seen = []
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        seen.append(line)
        if match := re.search(pattern, line):
            return match
    pytest.fail(f"run_gateway_sim did not print {pattern!r}; it printed: {''.join(seen)}")


@pytest.fixture
def running_command(tmp_path):
    process = subprocess.Popen(  # noqa: S603 - our own manage.py
        [sys.executable, "-u", "manage.py", "run_gateway_sim", "--port", "0", "--dir", str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _read_until(process, r"Quit with CONTROL-C", timeout=30)
        yield tmp_path
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()


def test_the_command_serves_a_refund_with_the_settings_it_wrote(running_command, settings, make_call):
    written = json.loads((running_command / "settings.json").read_text())
    settings.WECHAT_PAY = written["WECHAT_PAY"]
    answer = WeChatPayGateway().refund(make_call(amount=Decimal("1.00")))
    assert answer.outcome == Outcome.PROCESSING
