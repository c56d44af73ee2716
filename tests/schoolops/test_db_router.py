"""The read replica (schoolops.db_router): writes and ordinary reads on the primary, reads inside
``replica_reads()`` on the replica, here a second real database holding other rows."""

from __future__ import annotations

import pytest
from django.db import connections

from schoolops.db_router import (
    PrimaryReplicaRouter,
    primary_reads,
    read_alias,
    replica_has,
    replica_iter,
    replica_reads,
    report_connection,
)
from schoolops.models import Campus

from ..replica import replicate

pytestmark = [
    pytest.mark.usefixtures("replica_database"),
    pytest.mark.django_db(databases={"default", "replica"}),
]


@pytest.fixture
def two_databases():
    """北京 on both (replicated), 上海 written on the primary since (not on the replica yet)."""
    Campus.objects.create(code="north", name="北京")
    replicate()
    Campus.objects.create(code="south", name="上海")


def codes() -> list[str]:
    return list(Campus.objects.order_by("code").values_list("code", flat=True))


def test_ordinary_reads_go_to_the_primary(two_databases):
    assert codes() == ["north", "south"]
    assert read_alias() == "default"


def test_reads_inside_replica_reads_come_from_the_replica(two_databases):
    with replica_reads():
        assert read_alias() == "replica"
        assert codes() == ["north"]
    assert codes() == ["north", "south"]


def test_replica_reads_works_as_a_decorator(two_databases):
    @replica_reads()
    def report() -> list[str]:
        return codes()

    assert report() == ["north"]
    assert codes() == ["north", "south"]


def test_writes_inside_replica_reads_go_to_the_primary(two_databases):
    with replica_reads():
        Campus.objects.create(code="east", name="广州")
        Campus.objects.filter(code="north").update(name="北京海淀")
        assert codes() == ["north"]  # the replica has not received them
    assert Campus.objects.get(code="east").name == "广州"
    assert Campus.objects.get(code="north").name == "北京海淀"
    assert not Campus.objects.using("replica").filter(code="east").exists()


def test_select_for_update_inside_replica_reads_locks_on_the_primary(two_databases):
    with replica_reads():
        assert Campus.objects.select_for_update().get(code="south").name == "上海"


def test_primary_reads_inside_replica_reads_read_the_primary(two_databases):
    with replica_reads():
        with primary_reads():
            assert codes() == ["north", "south"]
        assert codes() == ["north"]


def test_report_connection_is_the_one_the_context_reads_from(two_databases):
    def database_name() -> str:
        with report_connection().cursor() as cursor:
            cursor.execute("SELECT current_database()")
            return cursor.fetchone()[0]

    with replica_reads():
        assert database_name() == connections["replica"].settings_dict["NAME"]
    assert database_name() == connections["default"].settings_dict["NAME"]


def test_replica_iter_reads_each_item_on_the_replica_and_nothing_in_between(two_databases):
    def rows():
        yield codes()
        yield codes()

    pulled = []
    for item in replica_iter(rows()):
        pulled.append(item)
        assert read_alias() == "default"  # the consumer's own reads stay on the primary
    assert pulled == [["north"], ["north"]]


def test_replica_has_tells_whether_a_row_has_arrived(two_databases):
    assert replica_has(Campus, Campus.objects.get(code="north").pk)
    assert not replica_has(Campus, Campus.objects.get(code="south").pk)


def test_migrations_run_on_the_primary_only_and_relations_cross():
    router = PrimaryReplicaRouter()
    assert router.allow_migrate("default", "schoolops")
    assert not router.allow_migrate("replica", "schoolops")
    north = Campus.objects.create(code="north", name="北京")
    replicate()
    with replica_reads():
        copy = Campus.objects.get(code="north")
    assert copy._state.db == "replica"
    assert router.allow_relation(north, copy)
