"""Exchange tests reach the gateway simulator like the payout tests do."""

from gatewaysim.testing import callback_receiver, gateway_settings, gateway_sim  # noqa: F401
from tests.payments.conftest import gateways  # noqa: F401
