"""Every indicator of the dashboard against figures worked out by hand on a small school.

The school: campus 北 (two courses, two homeroom teachers) and campus 南 (one course). The period
is the week Monday 2026-03-02 … Sunday 2026-03-08 (Asia/Shanghai); the previous period the week
before. All moments are Shanghai wall-clock times.

Orders (revenue, on the day paid):
  o1 北 course A1, teacher a1, WeChat   1000.00  paid 03-02
  o2 北 course A1, teacher a1, Alipay   2000.00  paid 03-03
  o3 北 course A2, teacher a2, WeChat   3000.00  paid 03-04
  o4 南 course B,  teacher b,  WeChat   5000.00  paid 03-05
  o5 北 course A1, teacher a1, WeChat    500.00  paid 02-25 (previous week)
Requests:
  r1 o1 time_conflict  900.00  submitted 03-02 12:00; homeroom approves 18:00 (6 h, final: approved);
                               refunded 03-03 12:00 (24 h after submission)
  r2 o2 quality       1800.00  submitted 03-03 08:00; homeroom approves 10:00 (2 h); supervisor
                               rejects 03-04 08:00 (step 22 h; decision 24 h after submission)
  r3 o3 time_conflict 2700.00  submitted 03-04 09:00; still waiting
  r4 o4 illness       4500.00  submitted 03-05 10:00; homeroom approves 14:00 (4 h, final);
                               refunded 03-06 16:00 (30 h after submission)
  r5 o5 time_conflict  450.00  submitted 02-26 10:00; approved 12:00 (2 h); refunded 02-27 12:00 (26 h)
  r6 o2 other          100.00  submitted 03-08 23:30 (the last half hour of the period)
  r7 o4 other          100.00  submitted 03-09 00:30 (the first half hour after it: not counted)
"""

from __future__ import annotations

import datetime
from dataclasses import replace
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from analytics import selectors
from analytics.selectors import DIMENSIONS, Filters, analytics_dashboard
from tests import factories

from .helpers import move, paid_order, raw_request, rebuild, sh, step

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shipped_data")]

WEEK = Filters(start=datetime.date(2026, 3, 2), end=datetime.date(2026, 3, 8))


@pytest.fixture
def school():
    north = factories.make_campus(code="bei", name="北校区")
    south = factories.make_campus(code="nan", name="南校区")
    ops = factories.make_head_office(role="operations", campus=north, name="运营")
    head_south = factories.make_staff(role="campus_head", campus=south, name="南校长")
    head_north = factories.make_staff(role="campus_head", campus=north, name="北校长")
    a1 = factories.make_staff(role="homeroom", campus=north, name="甲老师")
    a2 = factories.make_staff(role="homeroom", campus=north, name="乙老师")
    b = factories.make_staff(role="homeroom", campus=south, name="丙老师")
    course_a1 = factories.make_course(campus=north, price="1000.00")
    course_a2 = factories.make_course(campus=north, price="3000.00")
    course_b = factories.make_course(campus=south, price="5000.00")
    o1 = paid_order(course=course_a1, homeroom=a1, amount="1000.00", paid_at=sh(2026, 3, 2, 10))
    o2 = paid_order(course=course_a1, homeroom=a1, amount="2000.00", paid_at=sh(2026, 3, 3, 10), channel="alipay")
    o3 = paid_order(course=course_a2, homeroom=a2, amount="3000.00", paid_at=sh(2026, 3, 4, 10))
    o4 = paid_order(course=course_b, homeroom=b, amount="5000.00", paid_at=sh(2026, 3, 5, 10))
    o5 = paid_order(course=course_a1, homeroom=a1, amount="500.00", paid_at=sh(2026, 2, 25, 10))

    r1 = raw_request(o1, reason="time_conflict", submitted_at=sh(2026, 3, 2, 12), amount="900.00")
    step(r1, "homeroom", "approved", sh(2026, 3, 2, 12), sh(2026, 3, 2, 18))
    move(r1, "pending_homeroom", "approved", sh(2026, 3, 2, 18))
    move(r1, "approved", "paying", sh(2026, 3, 3, 9))
    move(r1, "paying", "refunded", sh(2026, 3, 3, 12))

    r2 = raw_request(o2, reason="quality", submitted_at=sh(2026, 3, 3, 8), amount="1800.00")
    step(r2, "homeroom", "approved", sh(2026, 3, 3, 8), sh(2026, 3, 3, 10))
    move(r2, "pending_homeroom", "pending_supervisor", sh(2026, 3, 3, 10))
    step(r2, "supervisor", "rejected", sh(2026, 3, 3, 10), sh(2026, 3, 4, 8))
    move(r2, "pending_supervisor", "rejected", sh(2026, 3, 4, 8))

    raw_request(o3, reason="time_conflict", submitted_at=sh(2026, 3, 4, 9), amount="2700.00")

    r4 = raw_request(o4, reason="illness", submitted_at=sh(2026, 3, 5, 10), amount="4500.00")
    step(r4, "homeroom", "approved", sh(2026, 3, 5, 10), sh(2026, 3, 5, 14))
    move(r4, "pending_homeroom", "approved", sh(2026, 3, 5, 14))
    move(r4, "approved", "paying", sh(2026, 3, 6, 9))
    move(r4, "paying", "refunded", sh(2026, 3, 6, 16))

    r5 = raw_request(o5, reason="time_conflict", submitted_at=sh(2026, 2, 26, 10), amount="450.00")
    step(r5, "homeroom", "approved", sh(2026, 2, 26, 10), sh(2026, 2, 26, 12))
    move(r5, "pending_homeroom", "approved", sh(2026, 2, 26, 12))
    move(r5, "approved", "paying", sh(2026, 2, 27, 9))
    move(r5, "paying", "refunded", sh(2026, 2, 27, 12))

    raw_request(o2, reason="other", submitted_at=sh(2026, 3, 8, 23, 30), amount="100.00")
    raw_request(o4, reason="other", submitted_at=sh(2026, 3, 9, 0, 30), amount="100.00")
    rebuild(until=datetime.date(2026, 3, 31))
    return {
        "north": north,
        "south": south,
        "ops": ops.user,
        "head_south": head_south.user,
        "head_north": head_north.user,
        "a1": a1,
        "b": b,
        "courses": (course_a1, course_a2, course_b),
    }


def test_indicators_school_wide(school):
    board = analytics_dashboard(user=school["ops"], filters=WEEK)
    now = board.current
    assert now.applications == 5  # r1, r2, r3, r4, r6 (r7 is half an hour late, r5 the week before)
    assert (now.decided, now.approved, now.rejected) == (3, 2, 1)  # r1, r4 approved; r2 rejected
    assert now.approval_rate == Decimal("66.7")  # 2 / 3 × 100 = 66.67
    assert now.avg_hours_to_decision == Decimal("11.3")  # (6 + 24 + 4) / 3 = 11.33
    assert now.refunded_count == 2
    assert now.refunded_amount == Decimal("5400.00")  # 900 + 4500
    assert now.avg_hours_to_refund == Decimal("27.0")  # (24 + 30) / 2
    assert now.slowest_tier == "supervisor"  # supervisor 22 h vs homeroom (6 + 2 + 4) / 3 = 4 h
    assert now.slowest_tier_hours == Decimal("22.0")
    assert now.revenue == Decimal("11000.00")  # 1000 + 2000 + 3000 + 5000
    assert now.refund_ratio == Decimal("49.09")  # 5400 / 11000 × 100 = 49.0909


def test_previous_period(school):
    board = analytics_dashboard(user=school["ops"], filters=WEEK)
    assert board.filters.previous() == Filters(start=datetime.date(2026, 2, 23), end=datetime.date(2026, 3, 1))
    before = board.previous
    assert before.applications == 1  # r5
    assert (before.decided, before.approved, before.rejected) == (1, 1, 0)
    assert before.approval_rate == Decimal("100.0")
    assert before.avg_hours_to_decision == Decimal("2.0")
    assert (before.refunded_count, before.refunded_amount) == (1, Decimal("450.00"))
    assert before.avg_hours_to_refund == Decimal("26.0")  # 02-26 10:00 → 02-27 12:00
    assert (before.slowest_tier, before.slowest_tier_hours) == ("homeroom", Decimal("2.0"))
    assert before.revenue == Decimal("500.00")  # o5
    assert before.refund_ratio == Decimal("90.00")  # 450 / 500 × 100


def test_nothing_decided_gives_none(school):
    empty = Filters(start=datetime.date(2026, 1, 1), end=datetime.date(2026, 1, 7))
    now = analytics_dashboard(user=school["ops"], filters=empty).current
    assert now.applications == 0
    assert now.approval_rate is None and now.avg_hours_to_decision is None and now.avg_hours_to_refund is None
    assert now.slowest_tier == "" and now.slowest_tier_hours is None
    assert now.refund_ratio is None and now.revenue == Decimal("0.00")


def test_series_by_day_week_month(school):
    days = analytics_dashboard(user=school["ops"], filters=WEEK).series
    assert [p.bucket.day for p in days] == [2, 3, 4, 5, 6, 7, 8]
    assert [p.applications for p in days] == [1, 1, 1, 1, 0, 0, 1]  # r1, r2, r3, r4, -, -, r6
    assert [p.approved for p in days] == [1, 0, 0, 1, 0, 0, 0]  # r1 03-02, r4 03-05
    assert [p.rejected for p in days] == [0, 0, 1, 0, 0, 0, 0]  # r2 03-04
    assert [p.refunded_amount for p in days] == [Decimal(x) for x in ["0", "900", "0", "0", "4500", "0", "0"]]
    assert [p.revenue for p in days] == [Decimal(x) for x in ["1000", "2000", "3000", "5000", "0", "0", "0"]]
    # Two weeks: Monday 02-23 (r5, o5) and Monday 03-02 (the week above summed).
    weeks = analytics_dashboard(
        user=school["ops"], filters=Filters(start=datetime.date(2026, 2, 25), end=WEEK.end, grain="week")
    ).series
    assert [(p.bucket, p.applications, p.approved, p.refunded_amount, p.revenue) for p in weeks] == [
        (datetime.date(2026, 2, 23), 1, 1, Decimal("450.00"), Decimal("500.00")),
        (datetime.date(2026, 3, 2), 5, 2, Decimal("5400.00"), Decimal("11000.00")),
    ]
    months = analytics_dashboard(
        user=school["ops"],
        filters=Filters(start=datetime.date(2026, 2, 1), end=datetime.date(2026, 3, 31), grain="month"),
    ).series
    # February: r5 / o5; March: r1 r2 r3 r4 r6 r7 (six applications), refunds 900 + 4500.
    assert [(p.bucket, p.applications, p.rejected, p.refunded_amount, p.revenue) for p in months] == [
        (datetime.date(2026, 2, 1), 1, 0, Decimal("450.00"), Decimal("500.00")),
        (datetime.date(2026, 3, 1), 6, 1, Decimal("5400.00"), Decimal("11000.00")),
    ]


def test_by_course_and_reasons(school):
    a1, a2, b = school["courses"]
    board = analytics_dashboard(user=school["ops"], filters=Filters(start=WEEK.start, end=WEEK.end, dimension="course"))
    rows = {row.key: row for row in board.by_dimension}
    # A1: r1 r2 r6, one approved of two decided, 900 refunded of 1000 + 2000 paid.
    assert (rows[str(a1.pk)].applications, rows[str(a1.pk)].approval_rate) == (3, Decimal("50.0"))
    assert (rows[str(a1.pk)].refunded_amount, rows[str(a1.pk)].revenue) == (Decimal("900.00"), Decimal("3000.00"))
    assert rows[str(a1.pk)].refund_ratio == Decimal("30.00")  # 900 / 3000
    assert rows[str(a1.pk)].label == a1.name
    # A2: r3 waiting: nothing decided; 3000 paid, nothing back.
    assert (rows[str(a2.pk)].applications, rows[str(a2.pk)].approval_rate) == (1, None)
    assert rows[str(a2.pk)].refund_ratio == Decimal("0.00")
    # B: r4 approved and refunded, 4500 of 5000.
    assert rows[str(b.pk)].refund_ratio == Decimal("90.00")
    assert [row.key for row in board.by_dimension] == [str(a1.pk), str(b.pk), str(a2.pk)]
    assert rows[str(a1.pk)].drill == {
        "submitted_at__gte": "2026-03-02",
        "submitted_at__lt": "2026-03-09",
        "order__course__id__exact": str(a1.pk),
    }
    # Reasons: time_conflict r1 r3; quality r2; illness r4; other r6: 2 / 5 = 40 %, 1 / 5 = 20 %.
    assert [(r.reason, r.count, r.share) for r in board.reasons] == [
        ("time_conflict", 2, Decimal("40.0")),
        ("illness", 1, Decimal("20.0")),
        ("other", 1, Decimal("20.0")),
        ("quality", 1, Decimal("20.0")),
    ]


def test_by_teacher_and_channel(school):
    teacher = analytics_dashboard(
        user=school["ops"], filters=Filters(start=WEEK.start, end=WEEK.end, dimension="teacher")
    )
    rows = {row.key: row for row in teacher.by_dimension}
    # 甲老师 (a1): r1 r2 r6; 900 refunded of o1 + o2 = 3000.
    a1 = rows[str(school["a1"].pk)]
    assert (a1.label, a1.applications, a1.refunded_amount, a1.revenue) == (
        "甲老师",
        3,
        Decimal("900.00"),
        Decimal("3000.00"),
    )
    assert a1.drill["order__enrollment__homeroom_teacher__id__exact"] == str(school["a1"].pk)
    channel = analytics_dashboard(
        user=school["ops"], filters=Filters(start=WEEK.start, end=WEEK.end, dimension="channel")
    )
    rows = {row.key: row for row in channel.by_dimension}
    # Alipay: o2 (2000) with r2 and r6; WeChat: o1 o3 o4 (9000) with r1 r3 r4, 5400 refunded.
    assert (rows["alipay"].applications, rows["alipay"].revenue) == (2, Decimal("2000.00"))
    assert (rows["wechat"].applications, rows["wechat"].refunded_amount) == (3, Decimal("5400.00"))
    assert rows["wechat"].refund_ratio == Decimal("60.00")  # 5400 / 9000


def test_filters_narrow(school):
    only_quality = analytics_dashboard(
        user=school["ops"], filters=Filters(start=WEEK.start, end=WEEK.end, reason="quality")
    )
    # r2 alone; revenue has no reason: its refunds are set against all the revenue.
    assert (only_quality.current.applications, only_quality.current.rejected) == (1, 1)
    assert only_quality.current.revenue == Decimal("11000.00")
    assert only_quality.drill["reason__exact"] == "quality"
    north = analytics_dashboard(
        user=school["ops"], filters=Filters(start=WEEK.start, end=WEEK.end, campus_id=school["north"].pk)
    )
    # North: r1 r2 r3 r6; 900 refunded of 1000 + 2000 + 3000 = 6000 → 15.00 %.
    assert (north.current.applications, north.current.refunded_amount) == (4, Decimal("900.00"))
    assert north.current.refund_ratio == Decimal("15.00")
    assert north.drill["campus__id__exact"] == str(school["north"].pk)


def test_a_campus_head_sees_only_her_campus(school):
    board = analytics_dashboard(user=school["head_south"], filters=Filters(start=WEEK.start, end=WEEK.end))
    now = board.current
    # South: r4 only; 4500 refunded of o4's 5000.
    assert (now.applications, now.approved, now.refunded_amount, now.revenue) == (
        1,
        1,
        Decimal("4500.00"),
        Decimal("5000.00"),
    )
    assert now.refund_ratio == Decimal("90.00")
    assert [row.key for row in board.by_dimension] == [str(school["south"].pk)]
    assert board.previous.applications == 0  # r5 is north's
    # Asking for the other campus gives nothing, not its figures.
    other = analytics_dashboard(
        user=school["head_south"], filters=Filters(start=WEEK.start, end=WEEK.end, campus_id=school["north"].pk)
    )
    assert other.current.applications == 0 and other.current.revenue == Decimal("0.00")
    assert other.by_dimension == [] and other.reasons == [] and all(p.applications == 0 for p in other.series)


def test_the_dashboard_reads_only_facts_and_labels(school):
    with CaptureQueriesContext(connection) as queries:
        analytics_dashboard(user=school["ops"], filters=Filters(start=WEEK.start, end=WEEK.end, dimension="teacher"))
    tables = " ".join(q["sql"] for q in queries.captured_queries)
    assert "analytics_dailyrollup" in tables  # narrowed by nothing finer than a campus: the roll-up
    for raw in ("refunds_refundrequest", "refunds_refundtransition", "refunds_approvalstep", "orders_order"):
        assert raw not in tables


@pytest.mark.parametrize(
    ("narrowed", "reads"),
    [
        ({"channel": "wechat"}, "analytics_dailyrollup"),  # the crossed rows
        ({"reason": "quality"}, "analytics_dailyrollup"),
        ({"channel": "wechat", "reason": "quality"}, "analytics_refundfact"),
        ({"course_id": 1}, "analytics_refundfact"),
    ],
)
def test_a_view_narrowed_below_a_campus_reads_the_crossed_roll_up_or_the_facts(school, narrowed, reads):
    with CaptureQueriesContext(connection) as queries:
        analytics_dashboard(user=school["ops"], filters=Filters(start=WEEK.start, end=WEEK.end, **narrowed))
    tables = " ".join(q["sql"] for q in queries.captured_queries)
    assert reads in tables
    if reads == "analytics_dailyrollup":
        assert "analytics_refundfact" not in tables and "analytics_revenuefact" not in tables


@pytest.mark.parametrize("grain", ["day", "week", "month"])
def test_the_roll_up_answers_as_the_facts_do(school, monkeypatch, grain):
    """Every dimension, both periods, a campus head and operations, narrowed to a channel or a
    reason or not: the same dashboard from the roll-up as from the facts themselves."""
    views = [
        Filters(
            start=start,
            end=datetime.date(2026, 3, 8),
            grain=grain,
            dimension=dimension,
            campus_id=campus_id,
            **narrowed,
        )
        for start in (WEEK.start, datetime.date(2026, 1, 1))
        for dimension in DIMENSIONS
        for campus_id in (None, school["north"].pk)
        for narrowed in ({}, {"channel": "wechat"}, {"channel": "alipay"}, {"reason": "time_conflict"})
    ]
    users = [school["ops"], school["head_north"], school["head_south"]]

    def boards() -> list[selectors.Dashboard]:
        # as_of is "now" where nothing was refreshed (a campus head asking for another campus)
        return [
            replace(analytics_dashboard(user=user, filters=filters), as_of=None) for user in users for filters in views
        ]

    rolled = boards()
    assert any(view.current.applications for view in rolled) and any(view.by_dimension for view in rolled)
    monkeypatch.setattr(selectors, "_rollup_name", lambda *args: None)
    assert boards() == rolled
