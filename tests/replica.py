"""A second real PostgreSQL database standing in for the read replica.

``replica_database`` (tests/conftest.py) adds the alias ``replica`` for the tests of one module,
pointing at a database of its own (``<test database>_replica``, its tables made from the models)
and removes it afterwards, so every other test runs without a replica, as a deployment without
``DATABASE_REPLICA_URL`` does. Tests using it declare ``databases={"default", "replica"}``: both
are rolled back after each test. ``replicate()`` plays the streaming replication: the replica
becomes a copy of what the primary holds at that moment; what is written after is "lag".
"""

from __future__ import annotations

import copy
import io

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.test.utils import override_settings

from schoolops.db_router import REPLICA


def replica_create() -> dict:
    """A new test database for the replica, with the models' tables; its settings."""
    primary = connections[DEFAULT_DB_ALIAS].settings_dict
    replica = copy.deepcopy(primary)
    # MIGRATE False: the tables straight from the models (what replication would give it).
    name = f"{primary['NAME']}_replica"
    replica["TEST"] = {**replica["TEST"], "NAME": name, "MIRROR": None, "MIGRATE": False, "SERIALIZE": False}
    replica_add(replica)
    try:
        # The router keeps migrations off the replica; this database has no primary to replicate.
        with override_settings(DATABASE_ROUTERS=[]):
            connections[REPLICA].creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
        return copy.deepcopy(connections[REPLICA].settings_dict)
    finally:
        replica_remove()


def replica_destroy(replica: dict) -> None:
    replica_add(replica)
    try:
        connections[REPLICA].creation.destroy_test_db(replica["NAME"], verbosity=0)
    finally:
        replica_remove()


def replica_add(replica: dict) -> None:
    """Define the alias ``replica`` (after settings were read, as DATABASE_REPLICA_URL would have)."""
    settings.DATABASES[REPLICA] = replica
    connections.settings[REPLICA] = replica  # the same dict as settings.DATABASES, or a copy of it


def replica_remove() -> None:
    connections[REPLICA].close()
    del connections[REPLICA]
    settings.DATABASES.pop(REPLICA, None)
    connections.settings.pop(REPLICA, None)


def replicate() -> None:
    """Make the replica hold exactly what the primary holds now (this test's uncommitted rows
    included): every table emptied and copied over with COPY, column by column."""
    primary, replica = connections[DEFAULT_DB_ALIAS], connections[REPLICA]
    tables = sorted(set(replica.introspection.table_names()) & set(primary.introspection.table_names()))
    quote = replica.ops.quote_name
    with replica.cursor() as target, primary.cursor() as source:
        # A second copy in the same test: the first one's foreign keys are checked now (their
        # checks wait for the commit, and TRUNCATE refuses tables with checks pending).
        target.execute("SET CONSTRAINTS ALL IMMEDIATE")
        target.execute(f"TRUNCATE {', '.join(quote(t) for t in tables)} CASCADE")
        target.execute("SET CONSTRAINTS ALL DEFERRED")
        for table in tables:
            columns = ", ".join(quote(c.name) for c in replica.introspection.get_table_description(target, table))
            buffer = io.StringIO()
            source.cursor.copy_expert(f"COPY {quote(table)} ({columns}) TO STDOUT", buffer)
            buffer.seek(0)
            target.cursor.copy_expert(f"COPY {quote(table)} ({columns}) FROM STDIN", buffer)
