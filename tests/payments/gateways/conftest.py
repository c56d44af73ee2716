"""The gateway simulator fixtures (shared with other test packages) and a refund call factory."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal

import pytest

from gatewaysim.testing import callback_receiver, gateway_settings, gateway_sim  # noqa: F401
from payments.gateways.base import RefundCall


@pytest.fixture
def make_call() -> Callable[..., RefundCall]:
    """A refund call with fresh numbers: 30.00 back on an order of 100.00 unless told otherwise."""

    def make(**overrides: object) -> RefundCall:
        suffix = uuid.uuid4().hex[:12]
        values: dict = {
            "payout_no": f"RF{suffix}",
            "order_no": f"OD{suffix}",
            "trade_no": f"42000{suffix}",
            "order_total": Decimal("100.00"),
            "amount": Decimal("30.00"),
            "reason": "课程退款",
            "notify_url": "",
        }
        values.update(overrides)
        return RefundCall(**values)

    return make
