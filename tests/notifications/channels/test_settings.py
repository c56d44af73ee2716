"""The notification channels' settings block: development points at the simulator, production
starts (and passes ``check --deploy``) with none of it set."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

from gatewaysim import keys

ROOT = Path(__file__).resolve().parents[3]
PRINT_SETTINGS = (
    "import json, schoolops.settings as s; "
    "print(json.dumps({'SMS': s.SMS, 'WECHAT_MP': s.WECHAT_MP, 'NOTIFY_WEBHOOKS': s.NOTIFY_WEBHOOKS}))"
)
CHANNEL_VARIABLES = [
    "SMS_URL",
    "SMS_ACCESS_KEY_ID",
    "SMS_ACCESS_KEY_SECRET",
    "SMS_SIGN_NAME",
    "SMS_CA_BUNDLE",
    "SMS_TIMEOUT",
    "WECHAT_MP_APPID",
    "WECHAT_MP_SECRET",
    "WECHAT_MP_MODE",
    "WECHAT_MP_MINI_PAGE",
    "WECHAT_MP_API_BASE",
    "WECHAT_MP_TOKEN_URL",
    "WECHAT_MP_CA_BUNDLE",
    "WECHAT_MP_TIMEOUT",
    "NOTIFY_WEBHOOKS_CA_BUNDLE",
    "NOTIFY_WEBHOOKS_TIMEOUT",
]
PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "LEARNING_PLATFORM_SECRET": secrets.token_urlsafe(50),
    "SCHOOLOPS_ORDER_SYSTEM_SECRET": secrets.token_urlsafe(50),
}


def _run(tmp_path: Path, args: list[str], **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in CHANNEL_VARIABLES}
    environment |= {"SCHOOLOPS_VAR_DIR": str(tmp_path), **env}
    return subprocess.run(  # noqa: S603 - our own interpreter and settings module
        [sys.executable, *args], cwd=ROOT, env=environment, capture_output=True, text=True, check=False
    )


def _settings_with(tmp_path: Path, **env: str) -> dict:
    result = _run(tmp_path, ["-c", PRINT_SETTINGS], **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_development_settings_point_the_channels_at_the_simulator(tmp_path):
    material = keys.ensure_material(tmp_path / "gateway-sim")

    values = _settings_with(tmp_path, DJANGO_DEBUG="1")

    expected = keys.settings_values(material, base_url="https://127.0.0.1:8765/")
    assert {k: v for k, v in values["SMS"].items() if k != "TIMEOUT"} == expected["SMS"]
    assert expected["WECHAT_MP"].items() <= values["WECHAT_MP"].items()
    assert values["NOTIFY_WEBHOOKS"]["CA_BUNDLE"] == str(material.ca_cert)


def test_production_settings_load_with_no_channel_configured(tmp_path):
    values = _settings_with(tmp_path, **PRODUCTION)

    assert values["SMS"]["ACCESS_KEY_SECRET"] == ""
    assert values["SMS"]["URL"] == "https://dysmsapi.aliyuncs.com/"
    assert values["WECHAT_MP"]["SECRET"] == ""
    assert values["WECHAT_MP"]["TOKEN_URL"] == "https://api.weixin.qq.com/cgi-bin/token"
    assert values["NOTIFY_WEBHOOKS"]["CA_BUNDLE"] == ""


def test_production_check_deploy_is_clean_with_no_channel_configured(tmp_path):
    result = _run(
        tmp_path,
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        DJANGO_ALLOWED_HOSTS="schoolops.example.com",
        DATABASE_URL="sqlite:///" + str(tmp_path / "db.sqlite3"),
        **PRODUCTION,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_every_channel_variable_is_in_the_production_example():
    example = (ROOT / "deploy" / "production.env.example").read_text()

    assert [name for name in CHANNEL_VARIABLES if f"# {name}=" not in example] == []
