"""The demo school has months of history for the dashboard, and its facts are built by seed_demo."""

from __future__ import annotations

import datetime
import io

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from analytics.models import Alert, AlertKind, CourseReview, WeeklyReview
from analytics.selectors import Filters, analytics_dashboard
from analytics.weekly import last_week_start
from orders.models import Course
from schoolops.models import Campus, User
from students.models import Student
from tests.conftest import FAST_HASHERS

from .helpers import facts_rows, rebuild


@pytest.fixture(scope="module")
def _seeded_once(django_db_setup, django_db_blocker, tmp_path_factory):
    """The demo school seeded once for the module (a minute of work), in a transaction rolled back
    after its last test; each test runs in a savepoint of it. seed_demo is a development command;
    the history's evidence files go to a folder of the module's own."""
    media = tmp_path_factory.mktemp("media")
    with (
        django_db_blocker.unblock(),
        override_settings(DEBUG=True, MEDIA_ROOT=media, PASSWORD_HASHERS=FAST_HASHERS),
        transaction.atomic(),
    ):
        call_command("seed_demo", stdout=io.StringIO())
        yield media
        transaction.set_rollback(True)


@pytest.fixture
def seeded(_seeded_once, db, settings):
    settings.MEDIA_ROOT = _seeded_once


def test_months_of_history_with_a_hot_course_and_a_spike(seeded):
    ops = User.objects.get(username="bj-ops")
    today = timezone.localdate()
    months = Filters(start=today - datetime.timedelta(days=150), end=today, grain="month", dimension="course")
    board = analytics_dashboard(user=ops, filters=months)
    assert sum(1 for point in board.series if point.applications) >= 5
    assert sum(1 for point in board.series if point.revenue) >= 5
    assert board.current.refunded_amount > 0 and board.current.rejected > 0
    hot = Course.objects.get(code="bj-live")
    ratios = {row.key: row.refund_ratio for row in board.by_dimension if row.refund_ratio is not None}
    assert ratios[str(hot.pk)] == max(ratios.values())
    spike = today - datetime.timedelta(days=21)
    days = analytics_dashboard(user=ops, filters=Filters(start=spike - datetime.timedelta(days=60), end=spike))
    *before, on_the_day = [point.applications for point in days.series]
    assert on_the_day >= 12 and on_the_day > 3 * max(before)  # the spike three weeks ago
    # What seed_demo built is what a rebuild gives.
    built = facts_rows()
    rebuild()
    assert facts_rows() == built
    # The alert rules ran over the history: the spike day, one high-risk student, the hot course
    # crossing 10% (with its quality review), each once.
    alerts = Alert.objects.all()
    assert {a.day for a in alerts.filter(kind=AlertKind.SPIKE)} == {spike}
    (risky,) = Student.objects.filter(high_risk=True)
    assert alerts.get(kind=AlertKind.HIGH_RISK_STUDENT).student == risky
    review = CourseReview.objects.get()
    assert review.course == hot and review.alert.kind == AlertKind.COURSE_REFUND_RATE and review.owner is not None
    assert (
        call_command("analytics_alerts", since=str(today - datetime.timedelta(days=90)), stdout=io.StringIO()) is None
    )
    assert Alert.objects.count() == alerts.count()


def test_last_weeks_reviews_are_ready_in_the_admin(seeded):
    reviews = WeeklyReview.objects.filter(week_start=last_week_start())
    assert reviews.count() == Campus.objects.count() + 1  # every campus and the whole school
    school = reviews.get(campus__isnull=True)
    assert school.figures["current"]["applications"] > 0
    with school.pdf.open("rb") as handle:
        assert handle.read(5) == b"%PDF-"
