"""Where queries go when a read replica is configured (``DATABASE_REPLICA_URL`` defines the
database alias ``replica``; settings list ``PrimaryReplicaRouter`` in ``DATABASE_ROUTERS``).

- Every write, and every ordinary read, goes to ``default`` (the primary).
- Reads go to ``replica`` only inside ``replica_reads()``, which the report paths enter: finance's
  exports (streamed and prepared by a worker), the reconciliation export, the analytics dashboard
  and its export. The replica is a little behind the primary (replication lag), which a report
  tolerates; a row the same code has just written (an export job it then updates, a run it has
  just made) is read outside the context, or checked with ``replica_has`` first.
- Without the ``replica`` alias, ``replica_reads()`` changes nothing: everything is on ``default``.

Code that runs raw SQL on a report path takes its connection from ``report_connection()``, never
``django.db.connection``, so that it reads where the ORM does.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model

REPLICA = "replica"

T = TypeVar("T")

# Set by replica_reads() for the code running inside it (per thread and per asyncio task).
_replica_reads: ContextVar[bool] = ContextVar("schoolops_replica_reads", default=False)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


def read_alias() -> str:
    """The alias a read made here goes to: ``replica`` inside ``replica_reads()`` when there is
    one, ``default`` otherwise."""
    return REPLICA if _replica_reads.get() and replica_configured() else DEFAULT_DB_ALIAS


def report_connection() -> BaseDatabaseWrapper:
    """The connection for a report's raw SQL: the one the ORM reads from in this context."""
    return connections[read_alias()]


@contextmanager
def replica_reads() -> Iterator[None]:
    """Reads inside go to the replica (when configured); writes still go to the primary. Usable
    as a decorator too. A streamed response is produced after the view returns: wrap its chunks
    in ``replica_iter`` instead."""
    token = _replica_reads.set(True)
    try:
        yield
    finally:
        _replica_reads.reset(token)


@contextmanager
def primary_reads() -> Iterator[None]:
    """Reads inside go to the primary, even within ``replica_reads()``: for a row just written."""
    token = _replica_reads.set(False)
    try:
        yield
    finally:
        _replica_reads.reset(token)


def replica_iter(items: Iterable[T]) -> Iterator[T]:
    """``items`` pulled one by one inside ``replica_reads()``: the context holds while each item is
    produced (e.g. by the WSGI server, after the view returned) and never in between."""
    iterator = iter(items)
    while True:
        with replica_reads():
            try:
                item = next(iterator)
            except StopIteration:
                return
        yield item


def replica_has(model: type[Model], pk: Any) -> bool:
    """Whether the replica has caught up with a row written on the primary (always true without a
    replica). Rows written in the same transaction arrive on the replica together."""
    if not replica_configured():
        return True
    return model._default_manager.using(REPLICA).filter(pk=pk).exists()


class PrimaryReplicaRouter:
    """Writes and ordinary reads on ``default``; reads inside ``replica_reads()`` on ``replica``.
    Migrations run on ``default`` only: the replica gets the schema by replication."""

    def db_for_read(self, model: type[Model], **hints: Any) -> str:
        return read_alias()

    def db_for_write(self, model: type[Model], **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool | None:
        # The replica holds the primary's rows: an object read from either may point at the other.
        if {obj1._state.db, obj2._state.db} <= {DEFAULT_DB_ALIAS, REPLICA}:
            return True
        return None

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool:
        return db == DEFAULT_DB_ALIAS
