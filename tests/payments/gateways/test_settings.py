"""The gateway settings block: development points at the simulator, production starts without it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gatewaysim import keys

ROOT = Path(__file__).resolve().parents[3]
PRINT_SETTINGS = (
    "import json, schoolops.settings as s; "
    "print(json.dumps({'WECHAT_PAY': s.WECHAT_PAY, 'ALIPAY': s.ALIPAY, 'BASE': s.PAYMENTS_NOTIFY_BASE_URL}))"
)
GATEWAY_VARIABLES = [
    "WECHAT_PAY_APPID",
    "WECHAT_PAY_MCH_ID",
    "WECHAT_PAY_API_KEY",
    "WECHAT_PAY_CERT_PATH",
    "WECHAT_PAY_KEY_PATH",
    "WECHAT_PAY_API_BASE",
    "WECHAT_PAY_CA_BUNDLE",
    "ALIPAY_APPID",
    "ALIPAY_APP_PRIVATE_KEY_PATH",
    "ALIPAY_PUBLIC_KEY_PATH",
    "ALIPAY_GATEWAY",
    "ALIPAY_CA_BUNDLE",
    "PAYMENTS_NOTIFY_BASE_URL",
]


def _settings_with(tmp_path: Path, **env: str) -> dict:
    environment = {k: v for k, v in os.environ.items() if k not in GATEWAY_VARIABLES}
    environment |= {"SCHOOLOPS_VAR_DIR": str(tmp_path), **env}
    result = subprocess.run(  # noqa: S603 - our own interpreter and settings module
        [sys.executable, "-c", PRINT_SETTINGS], cwd=ROOT, env=environment, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


@pytest.fixture
def sim_dir(tmp_path: Path) -> keys.SimMaterial:
    return keys.ensure_material(tmp_path / "gateway-sim")


def test_development_settings_match_the_simulators_files_and_identities(tmp_path, sim_dir):
    values = _settings_with(tmp_path, DJANGO_DEBUG="1")
    expected = keys.settings_values(sim_dir, base_url="https://127.0.0.1:8765/")
    assert values["WECHAT_PAY"] == expected["WECHAT_PAY"]
    assert values["ALIPAY"] == expected["ALIPAY"]
    assert values["BASE"] == "http://127.0.0.1:8000"


def test_production_settings_load_with_no_gateway_configured(tmp_path):
    values = _settings_with(
        tmp_path,
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="x" * 50,
        LEARNING_PLATFORM_SECRET="y" * 50,
        SCHOOLOPS_ORDER_SYSTEM_SECRET="z" * 50,
    )
    assert values["WECHAT_PAY"]["API_KEY"] == ""
    assert values["WECHAT_PAY"]["API_BASE"] == "https://api.mch.weixin.qq.com/"
    assert values["ALIPAY"]["GATEWAY"] == "https://openapi.alipay.com/gateway.do"
    assert values["BASE"] == ""


def test_every_gateway_variable_is_in_the_production_example():
    example = (ROOT / "deploy" / "production.env.example").read_text()
    assert [name for name in GATEWAY_VARIABLES if f"# {name}=" not in example] == []
