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


def replica_add() -> str:
    """Define the ``replica`` alias on a new test database with the models' tables; its name."""
    primary = connections[DEFAULT_DB_ALIAS].settings_dict
    name = f"{primary['NAME']}_replica"
    replica = copy.deepcopy(primary)
    # MIGRATE False: the tables straight from the models (what replication would give it).
    replica["TEST"] = {**replica["TEST"], "NAME": name, "MIRROR": None, "MIGRATE": False, "SERIALIZE": False}
    settings.DATABASES[REPLICA] = replica
    if REPLICA not in connections.settings:  # a copy of settings.DATABASES in some Django versions
        connections.settings[REPLICA] = replica
    # The router keeps migrations off the replica; this database has no primary to replicate.
    with override_settings(DATABASE_ROUTERS=[]):
        connections[REPLICA].creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    return name


def replica_remove() -> None:
    connection = connections[REPLICA]
    connection.close()
    connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)
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
        target.execute(f"TRUNCATE {', '.join(quote(t) for t in tables)} CASCADE")
        for table in tables:
            columns = ", ".join(quote(c.name) for c in replica.introspection.get_table_description(target, table))
            buffer = io.StringIO()
            source.cursor.copy_expert(f"COPY {quote(table)} ({columns}) TO STDOUT", buffer)
            buffer.seek(0)
            target.cursor.copy_expert(f"COPY {quote(table)} ({columns}) FROM STDIN", buffer)
