"""``manage.py analytics_rebuild``, the beat job's refresh, and the bounds of a refresh."""

from __future__ import annotations

import datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from analytics.models import FactsRefresh, RefundFact, RevenueFact
from analytics.services import facts_refresh, facts_refresh_recent
from analytics.tasks import refresh_recent_facts
from tests import factories

from .helpers import facts_rows, move, paid_order, raw_request, sh

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shipped_data")]


@pytest.fixture
def history(campus, homeroom):
    course = factories.make_course(campus=campus, price="1000.00")
    early = paid_order(course=course, homeroom=homeroom, amount="1000.00", paid_at=sh(2026, 1, 10, 9))
    late = paid_order(course=course, homeroom=homeroom, amount="800.00", paid_at=sh(2026, 3, 20, 23, 59))
    request = raw_request(early, reason="time_conflict", submitted_at=sh(2026, 1, 12, 8), amount="500.00")
    move(request, "pending_homeroom", "rejected", sh(2026, 2, 1, 8))
    return {"course": course, "early": early, "late": late}


def test_the_command_rebuilds_everything(history):
    out = StringIO()
    call_command("analytics_rebuild", stdout=out)
    assert "rebuilt" in out.getvalue()
    built = facts_rows()
    # 01-10 and 03-20 (revenue), 01-12 (the application), 02-01 (the rejection).
    assert sorted(f.day for f in RevenueFact.objects.all()) == [datetime.date(2026, 1, 10), datetime.date(2026, 3, 20)]
    assert sorted((f.day, f.applications, f.rejected) for f in RefundFact.objects.all()) == [
        (datetime.date(2026, 1, 12), 1, 0),
        (datetime.date(2026, 2, 1), 0, 1),
    ]
    # A stray row is gone after a full rebuild; the same figures come back.
    RefundFact.objects.update(applications=99)
    call_command("analytics_rebuild", stdout=StringIO())
    assert facts_rows() == built


def test_since_keeps_what_is_before(history):
    call_command("analytics_rebuild", stdout=StringIO())
    RevenueFact.objects.filter(day=datetime.date(2026, 1, 10)).update(revenue=Decimal("1.00"))
    RevenueFact.objects.filter(day=datetime.date(2026, 3, 20)).update(revenue=Decimal("1.00"))
    call_command("analytics_rebuild", "--since", "2026-03-01", stdout=StringIO())
    assert dict(RevenueFact.objects.values_list("day", "revenue")) == {
        datetime.date(2026, 1, 10): Decimal("1.00"),  # before --since: untouched
        datetime.date(2026, 3, 20): Decimal("800.00"),  # rebuilt
    }
    with pytest.raises(CommandError):
        call_command("analytics_rebuild", "--since", "March", stdout=StringIO())


def test_a_refresh_touches_only_its_slices(history, campus, other_campus, other_campus_homeroom):
    other = factories.make_course(campus=other_campus, price="100.00")
    paid_order(course=other, homeroom=other_campus_homeroom, amount="100.00", paid_at=sh(2026, 3, 20, 10))
    facts_refresh(days=[datetime.date(2026, 3, 20)], campus_ids=[campus.pk])
    # 23:59 Shanghai on 03-20 is 15:59 UTC: still the 20th. The other campus is left alone.
    assert list(RevenueFact.objects.values_list("campus_id", "day", "revenue")) == [
        (campus.pk, datetime.date(2026, 3, 20), Decimal("800.00"))
    ]
    assert list(FactsRefresh.objects.values_list("campus_id", flat=True)) == [campus.pk]


def test_the_beat_job_refreshes_yesterday_and_today(history, campus):
    assert facts_refresh_recent(today=datetime.date(2026, 3, 21)) == 1  # the late order, 03-20
    assert refresh_recent_facts.delay().get() >= 0  # registered and runs (today: nothing)
    assert RevenueFact.objects.get().revenue == Decimal("800.00")
