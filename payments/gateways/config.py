"""The gateways' settings, read from ``settings.WECHAT_PAY`` / ``settings.ALIPAY`` when a call is made.

Never at import: tests point the settings at the simulator per test, and production starts
(and passes ``check --deploy``) with the gateways unconfigured; only a call then fails, with
``GatewayNotConfigured`` naming what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DEFAULT_TIMEOUT = 15.0  # seconds; the SDKs wait forever (wechatpy) or 15 s (Alipay) by default


class GatewayNotConfigured(ImproperlyConfigured):
    """A gateway call was made with a setting missing or unusable. No request was sent."""


@dataclass(frozen=True)
class WeChatPayConfig:
    appid: str
    mch_id: str
    api_key: str
    cert_path: str
    key_path: str
    api_base: str
    ca_bundle: str  # "" = the system's (or REQUESTS_CA_BUNDLE's) trust store
    timeout: float

    def require_client_certificate(self) -> None:
        """``secapi/`` calls need the merchant certificate and key files."""
        for name, path in (("CERT_PATH", self.cert_path), ("KEY_PATH", self.key_path)):
            _require_file("WECHAT_PAY", name, path)


@dataclass(frozen=True)
class AlipayConfig:
    appid: str
    app_private_key: str  # PEM text
    alipay_public_key: str  # PEM text: Alipay's platform key, which signs its answers
    gateway: str
    ca_bundle: str
    timeout: float


def wechat_pay_config() -> WeChatPayConfig:
    values = _block("WECHAT_PAY")
    for name in ("APPID", "MCH_ID", "API_KEY"):
        _require_value("WECHAT_PAY", name, values.get(name))
    ca_bundle = str(values.get("CA_BUNDLE") or "")
    if ca_bundle:
        _require_file("WECHAT_PAY", "CA_BUNDLE", ca_bundle)
    api_base = str(values.get("API_BASE") or "https://api.mch.weixin.qq.com/")
    return WeChatPayConfig(
        appid=str(values["APPID"]),
        mch_id=str(values["MCH_ID"]),
        api_key=str(values["API_KEY"]),
        cert_path=str(values.get("CERT_PATH") or ""),
        key_path=str(values.get("KEY_PATH") or ""),
        api_base=api_base.rstrip("/") + "/",
        ca_bundle=ca_bundle,
        timeout=float(values.get("TIMEOUT") or DEFAULT_TIMEOUT),
    )


def alipay_config() -> AlipayConfig:
    values = _block("ALIPAY")
    for name in ("APPID", "APP_PRIVATE_KEY_PATH", "PUBLIC_KEY_PATH"):
        _require_value("ALIPAY", name, values.get(name))
    private_key_path = _require_file("ALIPAY", "APP_PRIVATE_KEY_PATH", str(values["APP_PRIVATE_KEY_PATH"]))
    public_key_path = _require_file("ALIPAY", "PUBLIC_KEY_PATH", str(values["PUBLIC_KEY_PATH"]))
    ca_bundle = str(values.get("CA_BUNDLE") or "")
    if ca_bundle:
        _require_file("ALIPAY", "CA_BUNDLE", ca_bundle)
    return AlipayConfig(
        appid=str(values["APPID"]),
        app_private_key=private_key_path.read_text(),
        alipay_public_key=public_key_path.read_text(),
        gateway=str(values.get("GATEWAY") or "https://openapi.alipay.com/gateway.do"),
        ca_bundle=ca_bundle,
        timeout=float(values.get("TIMEOUT") or DEFAULT_TIMEOUT),
    )


def notify_url(path: str) -> str:
    """The absolute URL at which the gateways reach ``path`` of ours (``PAYMENTS_NOTIFY_BASE_URL`` + path)."""
    base = str(getattr(settings, "PAYMENTS_NOTIFY_BASE_URL", "") or "")
    if not base:
        raise GatewayNotConfigured(
            "PAYMENTS_NOTIFY_BASE_URL is not set: the gateways cannot reach our callbacks "
            "(set the PAYMENTS_NOTIFY_BASE_URL environment variable)."
        )
    return base.rstrip("/") + "/" + path.lstrip("/")


def _block(name: str) -> dict[str, Any]:
    values = getattr(settings, name, None)
    if not isinstance(values, dict):
        raise GatewayNotConfigured(f"settings.{name} is missing: see deploy/production.env.example.")
    return values


def _require_value(block: str, name: str, value: object) -> None:
    if not value:
        raise GatewayNotConfigured(
            f"settings.{block}['{name}'] is empty: set the {block}_{name} environment variable"
            " (in development, start `manage.py run_gateway_sim` to use the local simulator)."
        )


def _require_file(block: str, name: str, path: str) -> Path:
    if not path or not Path(path).is_file():
        raise GatewayNotConfigured(
            f"settings.{block}['{name}'] does not name a readable file ({path!r}): "
            f"set the {block}_{name} environment variable."
        )
    return Path(path)
