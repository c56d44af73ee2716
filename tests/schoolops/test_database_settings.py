"""The database settings read from the environment: the replica alias, the transaction pooler."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRINT_DATABASES = (
    "import json, django; django.setup(); from django.conf import settings; "
    "from schoolops.db_router import read_alias, replica_reads; "
    "from schoolops.models import Campus\n"
    "with replica_reads(): alias = read_alias(); db = Campus.objects.all().db\n"
    "print(json.dumps({'aliases': sorted(settings.DATABASES), 'read': [alias, db], "
    "'databases': {k: {'NAME': v['NAME'], 'DISABLE_SERVER_SIDE_CURSORS': v.get('DISABLE_SERVER_SIDE_CURSORS', False), "
    "'CONN_MAX_AGE': v['CONN_MAX_AGE']} for k, v in settings.DATABASES.items()}}))"
)
PRIMARY = "postgres://schoolops:secret@db:5432/schoolops"
REPLICA = "postgres://schoolops:secret@replica:5432/schoolops"


def databases(tmp_path: Path, **env: str) -> dict:
    """Django set up in a fresh interpreter with only the database variables given (nothing
    connects: the settings are only read)."""
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith(("DATABASE_", "DJANGO_CONN_MAX_AGE"))
    }
    environment |= {"DJANGO_SETTINGS_MODULE": "schoolops.settings", "SCHOOLOPS_VAR_DIR": str(tmp_path), **env}
    result = subprocess.run(  # noqa: S603 - our own interpreter and settings module
        [sys.executable, "-c", PRINT_DATABASES], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_without_a_replica_url_there_is_no_replica_and_replica_reads_read_the_primary(tmp_path):
    values = databases(tmp_path, DATABASE_URL=PRIMARY)
    assert values["aliases"] == ["default"]
    assert values["read"] == ["default", "default"]


def test_a_replica_url_adds_the_replica_alias_read_inside_replica_reads(tmp_path):
    values = databases(tmp_path, DATABASE_URL=PRIMARY, DATABASE_REPLICA_URL=REPLICA)
    assert values["aliases"] == ["default", "replica"]
    assert values["read"] == ["replica", "replica"]
    assert values["databases"]["replica"]["NAME"] == "schoolops"


def test_direct_connections_keep_server_side_cursors(tmp_path):
    values = databases(tmp_path, DATABASE_URL=PRIMARY)
    assert values["databases"]["default"] == {
        "NAME": "schoolops",
        "DISABLE_SERVER_SIDE_CURSORS": False,
        "CONN_MAX_AGE": 60,
    }


def test_through_a_transaction_pooler_server_side_cursors_are_off(tmp_path):
    values = databases(tmp_path, DATABASE_URL=PRIMARY, DATABASE_POOLER="transaction", DATABASE_REPLICA_URL=REPLICA)
    assert values["databases"]["default"]["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert values["databases"]["default"]["CONN_MAX_AGE"] == 600
    # The replica is reached directly unless DATABASE_REPLICA_POOLER says otherwise.
    assert values["databases"]["replica"]["DISABLE_SERVER_SIDE_CURSORS"] is False


def test_the_replica_can_go_through_a_pooler_of_its_own(tmp_path):
    values = databases(
        tmp_path, DATABASE_URL=PRIMARY, DATABASE_REPLICA_URL=REPLICA, DATABASE_REPLICA_POOLER="transaction"
    )
    assert values["databases"]["replica"]["DISABLE_SERVER_SIDE_CURSORS"] is True
