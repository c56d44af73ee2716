"""The benchmarks' own PostgreSQL database: created on first use, never the tests' or the product's."""

from __future__ import annotations

import dj_database_url
import psycopg2
from psycopg2 import sql


def ensure_database(url: str) -> bool:
    """Create the benchmark database if the server has none of that name; False if there is no server."""
    config = dj_database_url.parse(url)
    try:
        admin = psycopg2.connect(
            dbname="postgres",
            user=config["USER"] or None,
            password=config["PASSWORD"] or None,
            host=config["HOST"] or None,
            port=config["PORT"] or None,
            connect_timeout=5,
        )
    except psycopg2.OperationalError as exc:
        print(f"SKIPPED: no PostgreSQL at {url} ({str(exc).strip().splitlines()[0]})")
        return False
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]])
        if cursor.fetchone() is None:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(config["NAME"])))
            print(f"created database {config['NAME']}")
    admin.close()
    return True


def django_on(url: str) -> int | None:
    """Django set up on the benchmark database ``url``, migrated, as a production process would
    run (no query log): None when ready, else the script's exit code (1: not PostgreSQL; 0: no
    server, which ``ensure_database`` has reported as SKIPPED)."""
    if not url.startswith(("postgres://", "postgresql://")):
        print(f"BENCH_DATABASE_URL must name a PostgreSQL database, not {url}")
        return 1
    if not ensure_database(url):
        return 0
    import warnings

    import django

    django.setup()

    from django.conf import settings
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    setup_test_environment()
    warnings.filterwarnings("ignore", "No directory at")  # WhiteNoise: collectstatic has not run
    settings.DEBUG = False  # as in production: no query log kept between measurements
    call_command("migrate", verbosity=0, interactive=False)
    return None
