"""The refund analytics dashboard and its export read the facts from the read replica when there
is one. The replica here is a second real database that received the facts before a second
request came in on the primary (tests/replica.py)."""

from __future__ import annotations

import datetime
import io

import openpyxl
import pytest
from django.urls import reverse

from analytics.selectors import Filters, analytics_figures
from tests import factories
from tests.analytics.helpers import paid_order, raw_request, rebuild, sh
from tests.finance.helpers import body
from tests.replica import replicate

pytestmark = [
    pytest.mark.usefixtures("replica_database"),
    pytest.mark.django_db(databases={"default", "replica"}),
]

NOVEMBER = {"period": "custom", "start": "2026-11-01", "end": "2026-11-30", "grain": "week"}


@pytest.fixture
def lagging(campus, homeroom):
    """One application in November replicated; a second one counted on the primary since."""
    course = factories.make_course(campus=campus)
    for day in (3, 10):
        order = paid_order(course=course, homeroom=homeroom, amount="1000.00", paid_at=sh(2026, 11, 2, 9))
        raw_request(order, reason="time_conflict", submitted_at=sh(2026, 11, day, 10), amount="500.00")
        rebuild(until=datetime.date(2026, 12, 3))
        if day == 3:
            replicate()


def test_the_dashboard_reads_the_facts_on_the_replica(client, operations, lagging):
    client.force_login(operations.user)
    response = client.get(reverse("admin:analytics_dashboard"), NOVEMBER)
    assert response.status_code == 200
    assert {card.key: card.value for card in response.context["view"].cards}["applications"] == "1"
    # The same figures read outside the report paths (the weekly review's) are the primary's.
    november = Filters(start=datetime.date(2026, 11, 1), end=datetime.date(2026, 11, 30), grain="week")
    assert analytics_figures(filters=november, campus_ids=None).current.applications == 2


def test_the_export_reads_the_facts_on_the_replica(client, operations, lagging):
    client.force_login(operations.user)
    response = client.get(reverse("admin:analytics_dashboard_export"), NOVEMBER)
    assert response.status_code == 200
    rows = list(openpyxl.load_workbook(io.BytesIO(body(response)), read_only=True).active.iter_rows(values_only=True))
    assert rows[1][2] == 1  # this period's applications
