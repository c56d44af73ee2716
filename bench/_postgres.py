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
