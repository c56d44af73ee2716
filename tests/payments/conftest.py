"""Payout tests talk to the gateway simulator over HTTPS; callbacks come back to a live server."""

from __future__ import annotations

import pytest

from gatewaysim.testing import callback_receiver, gateway_settings, gateway_sim  # noqa: F401


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
