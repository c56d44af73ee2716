"""Chaos: hundreds of seeded operations over the refund and payout services while a real Celery
worker (killed -9 now and then) pays refunds back through the gateway simulator, which fails in
every way it knows; then everything settles and the money must add up.

The seed comes from ``CHAOS_SEED`` (a fresh one otherwise) and is printed first thing and in the
failure message; ``CHAOS_OPS`` (600) and ``CHAOS_KILLS`` (3) change the run's length. Rerun a
failure with ``CHAOS_SEED=<seed> make test PYTEST_ARGS='tests/payments/test_chaos.py'``; ``CHAOS_LOG=<file>``
writes the report and every operation there.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest

from .chaos import Chaos, build_cast, build_orders, check_invariants, report, summary

pytestmark = [pytest.mark.chaos, pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

ORDERS = 32
SETTLE_SECONDS = 60.0


@pytest.fixture
def seed(record_property) -> int:
    value = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(1, 10**6))
    record_property("chaos_seed", value)
    # Printed at once (and shown with the captured output of a failure), so even a run that hangs
    # or crashes says how to repeat it.
    print(f"chaos seed {value}", file=sys.stderr)
    return value


def test_money_adds_up_after_hundreds_of_operations_under_gateway_faults_and_worker_kills(
    seed, gateways, start_worker, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    rng = random.Random(seed)
    gateways.behaviours.reset(seed=seed)
    cast = build_cast()
    orders = build_orders(rng, cast, ORDERS)
    chaos = Chaos(
        rng=rng,
        seed=seed,
        sim=gateways,
        cast=cast,
        orders=orders,
        start_worker=start_worker,
        max_kills=int(os.environ.get("CHAOS_KILLS", "3")),
    )
    chaos.new_worker()
    operations = int(os.environ.get("CHAOS_OPS", "600"))

    try:
        chaos.run(operations)
    except Exception as exc:
        pytest.fail(f"chaos seed {seed}: operation #{len(chaos.log)} raised {exc!r}\n\n{summary(chaos)}")
    settled, seconds = chaos.settle(timeout=SETTLE_SECONDS)
    violations = check_invariants(chaos)
    if os.environ.get("CHAOS_LOG"):  # every operation, for a closer look than the report's
        Path(os.environ["CHAOS_LOG"]).write_text(
            "\n".join([report(chaos, violations, settled=settled, seconds=seconds), "", *(e.line() for e in chaos.log)])
        )

    assert len(chaos.log) >= min(operations, 500), f"chaos seed {seed}: only {len(chaos.log)} operations ran"
    assert not violations and settled, report(chaos, violations, settled=settled, seconds=seconds)
