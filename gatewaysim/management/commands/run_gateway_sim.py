"""``manage.py run_gateway_sim``: the local WeChat Pay / Alipay simulator, in the foreground."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from gatewaysim.server import GatewaySimulator


class Command(BaseCommand):
    help = "Run the local payment gateway simulator (WeChat Pay v2 and Alipay over HTTPS) until Ctrl-C."
    requires_system_checks: list[str] = []  # a development tool that touches no model

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8765, help="Port on 127.0.0.1 (0 = any free port).")
        parser.add_argument(
            "--dir",
            default=str(getattr(settings, "GATEWAY_SIM_DIR", Path(settings.VAR_DIR) / "gateway-sim")),
            help="Where keys, certificates and the matching settings are kept (created if missing).",
        )
        parser.add_argument("--seed", type=int, default=0, help="Seed of the misbehaviour dice.")
        parser.add_argument(
            "--alipay-notify-url",
            default=None,
            help="Where Alipay refund notifications go for trades the simulator has no notify_url for "
            "(default: PAYMENTS_NOTIFY_BASE_URL + our Alipay callback path).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        notify_url = options["alipay_notify_url"]
        sim = GatewaySimulator(
            options["dir"],
            port=options["port"],
            seed=options["seed"],
            alipay_notify_url=notify_url if notify_url is not None else _default_alipay_notify_url(),
        )
        sim.start()
        json_path, env_path = sim.write_settings_files()
        out = self.stdout
        out.write(f"Gateway simulator listening on {sim.url}")
        out.write(f"Keys and certificates: {sim.directory}")
        out.write(f"  test CA (trust it to reach the simulator): {sim.material.ca_cert}")
        out.write(f"Matching settings: {json_path} and {env_path} (environment variables):")
        for block, values in sim.settings_values().items():
            for key, value in values.items():
                shown = value
                if key == "API_KEY":
                    shown = "<in " + str(sim.material.wechat_api_key_file) + ">"
                elif key in ("SECRET", "ACCESS_KEY_SECRET"):
                    shown = "<in " + str(sim.material.notify_keys_file) + ">"
                out.write(f"  {block}_{key}={shown}")
        example = '{"channel": "wechat", "behaviour": "system_error", "times": 1}'
        out.write(f"Misbehave: curl --cacert {sim.material.ca_cert} {sim.url}_sim/behave -d '{example}'")
        pay = '{"out_trade_no": "CO..."}'
        out.write(f"Pay a collection: curl --cacert {sim.material.ca_cert} {sim.url}_sim/pay -d '{pay}'")
        out.write(f"Alipay notifications for unknown trades go to: {sim.alipay_notify_url or '(nowhere)'}")
        out.write("Quit with CONTROL-C.")
        out.flush()
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            sim.stop()


def _default_alipay_notify_url() -> str:
    """Our Alipay callback, as the app's settings and URLconf place it ("" if there is none)."""
    from django.urls import NoReverseMatch, reverse

    base = str(getattr(settings, "PAYMENTS_NOTIFY_BASE_URL", "") or "")
    try:
        path = reverse("payments:alipay-notify")
    except NoReverseMatch:
        return ""
    return base.rstrip("/") + path if base else ""
