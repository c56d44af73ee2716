"""Small database helpers shared by the apps."""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, connections


def commit_without_waiting_for_disk(using: str = DEFAULT_DB_ALIAS) -> None:
    """Let the current transaction commit without waiting for its WAL to reach the disk
    (PostgreSQL's ``synchronous_commit`` off, for this transaction only).

    Only for bookkeeping whose loss in a database crash is harmless (the state it leaves is one the
    code already recovers from, e.g. a claim a dead worker never finished): what was committed is
    visible at once to everyone; only the last fraction of a second of such commits can be lost
    if the server crashes, and a later ordinary commit makes every earlier one durable. Never for
    money. Does nothing outside a transaction, inside someone else's (a nested block: their
    commit keeps its durability) or on another database.
    """
    connection = connections[using]
    if connection.vendor != "postgresql" or len(connection.atomic_blocks) != 1:
        return
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO OFF")
