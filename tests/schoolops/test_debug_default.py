"""DEBUG is off unless DJANGO_DEBUG turns it on: a deployment that forgets the variable fails
closed (secrets required, secure cookies), never open."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRINT_SETTINGS = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'DEBUG': s.DEBUG, 'SESSION_COOKIE_SECURE': s.SESSION_COOKIE_SECURE, "
    "'ALLOWED_HOSTS': s.ALLOWED_HOSTS}))"
)


PRODUCTION_SECRETS = {
    "DJANGO_SECRET_KEY": "k" * 50,
    "LEARNING_PLATFORM_SECRET": "s" * 50,
    "SCHOOLOPS_ORDER_SYSTEM_SECRET": "o" * 50,
}


def _load_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Django set up in a fresh interpreter, with none of the Django or secret variables of this
    run (the test run itself sets DJANGO_DEBUG=1) but those given."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "LEARNING_PLATFORM_", "SCHOOLOPS_ORDER_SYSTEM_")) and name != "DATABASE_URL"
    }
    environment |= {"DJANGO_SETTINGS_MODULE": "schoolops.settings", "SCHOOLOPS_VAR_DIR": str(tmp_path), **env}
    return subprocess.run(  # noqa: S603 - our own interpreter and settings module
        [sys.executable, "-c", PRINT_SETTINGS], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )


def test_without_django_debug_and_without_a_secret_key_the_settings_refuse_to_load(tmp_path):
    result = _load_settings(tmp_path)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "DJANGO_SECRET_KEY must be set" in result.stderr
    assert not (tmp_path / "secret_key").exists()  # no development key was made up


def test_without_django_debug_the_settings_are_the_production_ones(tmp_path):
    result = _load_settings(tmp_path, **PRODUCTION_SECRETS)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values == {"DEBUG": False, "SESSION_COOKIE_SECURE": True, "ALLOWED_HOSTS": []}


def test_an_empty_django_debug_counts_as_unset(tmp_path):
    result = _load_settings(tmp_path, DJANGO_DEBUG="", **PRODUCTION_SECRETS)
    assert json.loads(result.stdout)["DEBUG"] is False


def test_django_debug_1_turns_the_development_defaults_on(tmp_path):
    result = _load_settings(tmp_path, DJANGO_DEBUG="1")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["DEBUG"] is True
    assert (tmp_path / "secret_key").exists()


def test_without_django_debug_the_order_systems_secret_is_required(tmp_path):
    secrets = {name: value for name, value in PRODUCTION_SECRETS.items() if name != "SCHOOLOPS_ORDER_SYSTEM_SECRET"}
    result = _load_settings(tmp_path, **secrets)
    assert result.returncode != 0
    assert "SCHOOLOPS_ORDER_SYSTEM_SECRET must be set" in result.stderr


def test_with_django_debug_the_order_system_has_a_development_secret(tmp_path):
    script = "import django; django.setup(); from django.conf import settings as s; print(s.ORDER_SYSTEM_SECRET)"
    environment = {name: value for name, value in os.environ.items() if not name.startswith("SCHOOLOPS_ORDER_SYSTEM_")}
    environment |= {
        "DJANGO_SETTINGS_MODULE": "schoolops.settings",
        "SCHOOLOPS_VAR_DIR": str(tmp_path),
        "DJANGO_DEBUG": "1",
    }
    result = subprocess.run(  # noqa: S603 - our own interpreter and settings module
        [sys.executable, "-c", script], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "development-only-order-system-secret"
