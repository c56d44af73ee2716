"""The refund analytics dashboard in the admin: who sees it, what it shows, its filters, its
drill-down into the request list and its XLSX export, each kept to the user's campuses.

The school: two campuses, November 2026.

    北京海淀校区 (campus):  two orders of 1,000.00 paid on 2 Nov (revenue 2,000.00);
        r1 submitted 3 Nov 10:00, approved 4 Nov 10:00 (24 h), refunded 500.00 on 5 Nov 10:00;
        r2 submitted 3 Nov 10:00, rejected 4 Nov 12:00 (26 h).
    上海徐汇校区 (other_campus): one order of 3,000.00 paid on 2 Nov;
        r3 submitted 10 Nov 09:00, approved 11 Nov 09:00 (24 h), refunded 1,200.00 on 12 Nov 09:00.

Operations (every campus): 3 applications; 2 approved of 3 decided = 66.7%; decision in
(24 + 26 + 24) / 3 = 24.7 h; refunded 500 + 1,200 = 1,700.00 of revenue 5,000.00 = 34.00%.
The campus head of 北京海淀校区: 2 applications; 1 of 2 = 50.0%; refunded 500.00 of 2,000.00 = 25.00%.
"""

from __future__ import annotations

import datetime
import io
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import openpyxl
import pytest
from django.urls import reverse
from django.utils import translation

from schoolops.models import StaffRole
from tests import factories
from tests.analytics.helpers import move, paid_order, raw_request, rebuild, sh
from tests.finance.helpers import body
from tests.refunds.helpers import zh

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("admin:analytics_dashboard")
EXPORT = reverse("admin:analytics_dashboard_export")
REQUESTS = reverse("admin:refunds_refundrequest_changelist")
NOVEMBER = {"period": "custom", "start": "2026-11-01", "end": "2026-11-30", "grain": "week"}


@pytest.fixture
def school(campus, other_campus, homeroom, other_campus_homeroom):
    course = factories.make_course(campus=campus)
    other_course = factories.make_course(campus=other_campus)
    o1 = paid_order(course=course, homeroom=homeroom, amount="1000.00", paid_at=sh(2026, 11, 2, 9))
    o2 = paid_order(course=course, homeroom=homeroom, amount="1000.00", paid_at=sh(2026, 11, 2, 9), channel="alipay")
    o3 = paid_order(course=other_course, homeroom=other_campus_homeroom, amount="3000.00", paid_at=sh(2026, 11, 2, 9))
    r1 = raw_request(o1, reason="time_conflict", submitted_at=sh(2026, 11, 3, 10), amount="500.00")
    move(r1, "pending_homeroom", "approved", sh(2026, 11, 4, 10))
    move(r1, "approved", "paying", sh(2026, 11, 5, 9))
    move(r1, "paying", "refunded", sh(2026, 11, 5, 10))
    r2 = raw_request(o2, reason="quality", submitted_at=sh(2026, 11, 3, 10), amount="800.00")
    move(r2, "pending_homeroom", "rejected", sh(2026, 11, 4, 12))
    r3 = raw_request(o3, reason="time_conflict", submitted_at=sh(2026, 11, 10, 9), amount="1200.00")
    move(r3, "pending_homeroom", "approved", sh(2026, 11, 11, 9))
    move(r3, "approved", "paying", sh(2026, 11, 12, 8))
    move(r3, "paying", "refunded", sh(2026, 11, 12, 9))
    rebuild(until=datetime.date(2026, 12, 3))
    return {"r1": r1, "r2": r2, "r3": r3, "course": course, "other_course": other_course}


def cards(response) -> dict[str, str]:
    return {card.key: card.value for card in response.context["view"].cards}


def table(response, key: str) -> list[list[str]]:
    return [row.cells for row in response.context["view"].tables[key].rows]


def drill(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    assert parts.path == REQUESTS
    return {key: values[0] for key, values in parse_qs(parts.query).items()}


def listed(client, url: str) -> set[str]:
    response = client.get(url)
    assert response.status_code == 200
    assert "e" not in response.wsgi_request.GET  # Django's "?e=1" for a refused lookup
    return {r.request_no for r in response.context["cl"].result_list}


# --- who may see it -----------------------------------------------------------------------------


def test_operations_sees_every_campus_figures(client, operations, school):
    client.force_login(operations.user)
    response = client.get(DASHBOARD, NOVEMBER)
    assert response.status_code == 200
    assert cards(response) == {
        "applications": "3",
        "approval_rate": "66.7%",
        "hours_to_decision": zh("%(hours)s h") % {"hours": "24.7"},
        "hours_to_refund": cards(response)["hours_to_refund"],
        "refunded_amount": "1,700.00",
        "refund_ratio": "34.00%",
    }
    assert table(response, "dimension") == [
        ["北京海淀校区", "2", "50.0%", "500.00", "2,000.00", "25.00%"],
        ["上海徐汇校区", "1", "100.0%", "1,200.00", "3,000.00", "40.00%"],
    ]
    page = response.content.decode()
    assert zh("Refund analytics") in page  # the title, in Chinese by default
    assert 'src="/static/vendor/echarts/echarts.min.js"' in page
    assert '<script id="analytics-data" type="application/json">' in page


def test_the_page_costs_a_bounded_number_of_queries(client, operations, school, django_assert_max_num_queries):
    client.force_login(operations.user)
    client.get(DASHBOARD, NOVEMBER)  # the permission and staff caches warm up as on any page
    for _ in range(5):  # more of everything must not mean more queries
        paid_order(
            course=school["course"],
            homeroom=school["r1"].order.enrollment.homeroom_teacher,
            amount="10.00",
            paid_at=sh(2026, 11, 20, 9),
        )
    rebuild(until=datetime.date(2026, 12, 3))
    # 20 for the refunds: session, user, staff, selectors, choices; the service desk section (shown to
    # operations) 8 for the period and 4 for the one before at most (tests/analytics/test_service_metrics.py);
    # the student-service section 10 for its week and 7 for the eight weeks' trend (tests/service/test_metrics.py).
    with django_assert_max_num_queries(25 + 12 + 17):
        assert client.get(DASHBOARD, {**NOVEMBER, "dimension": "teacher"}).status_code == 200


def test_a_campus_head_sees_her_campus_only(client, campus_head, school):
    client.force_login(campus_head.user)
    response = client.get(DASHBOARD, NOVEMBER)
    assert response.status_code == 200
    assert cards(response)["applications"] == "2"
    assert cards(response)["approval_rate"] == "50.0%"
    assert cards(response)["refunded_amount"] == "500.00"
    assert cards(response)["refund_ratio"] == "25.00%"
    assert [row[0] for row in table(response, "dimension")] == ["北京海淀校区"]
    assert "上海徐汇校区" not in response.content.decode()


def test_a_campus_head_cannot_narrow_to_another_campus(client, campus_head, other_campus, school):
    client.force_login(campus_head.user)
    response = client.get(DASHBOARD, {**NOVEMBER, "campus": other_campus.pk})
    assert response.context["view"] is None
    assert response.context["form"].errors["campus"]
    assert "上海徐汇校区" not in response.content.decode()


@pytest.mark.parametrize("who", ["homeroom", "student"])
@pytest.mark.parametrize("url", [DASHBOARD, EXPORT])
def test_a_homeroom_teacher_or_a_student_is_refused(client, homeroom, student, school, who, url):
    client.force_login(homeroom.user if who == "homeroom" else student.user)
    assert client.get(url, NOVEMBER).status_code == 403


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(DASHBOARD)
    assert response.status_code == 302
    assert "login" in response["Location"]


def test_the_admin_index_lists_the_dashboard_for_those_allowed_only(client, operations, homeroom):
    client.force_login(operations.user)
    assert DASHBOARD in client.get(reverse("admin:index")).content.decode()
    client.force_login(homeroom.user)
    assert DASHBOARD not in client.get(reverse("admin:index")).content.decode()


def test_the_page_speaks_english_when_chosen(client, operations, school):
    client.force_login(operations.user)
    response = client.get(DASHBOARD, NOVEMBER, headers={"accept-language": "en"})
    page = response.content.decode()
    assert "Refund analytics" in page
    assert cards(response)["hours_to_decision"] == "24.7 h"


def test_the_page_carries_no_inline_script_without_the_nonce(client, operations, school):
    client.force_login(operations.user)
    response = client.get(DASHBOARD, NOVEMBER)
    policy = response["Content-Security-Policy"]
    assert "'unsafe-inline'" not in policy
    page = response.content.decode()
    for tag in page.split("<script")[1:]:
        opening = tag.split(">", 1)[0]
        assert "src=" in opening or 'type="application/json"' in opening or "nonce=" in opening, opening


# --- filters ------------------------------------------------------------------------------------


def test_the_default_view_is_the_last_90_days_by_week(client, operations, school):
    client.force_login(operations.user)
    response = client.get(DASHBOARD)
    filters = response.context["view"].dashboard.filters
    assert (filters.end - filters.start).days == 89
    assert filters.grain == "week"
    assert filters.dimension == "campus"
    form = response.context["form"]
    assert (form["start"].value(), form["end"].value()) == (filters.start.isoformat(), filters.end.isoformat())


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        (
            {"period": "custom", "start": "2026-11-30", "end": "2026-11-01"},
            "__all__",
            "The last day is before the first day.",
        ),
        ({"period": "custom", "start": "2026-11-01"}, "__all__", "Custom dates need both a first and a last day."),
        ({"dimension": "planet"}, "dimension", "Unknown dimension “planet”"),
        ({"grain": "hour"}, "grain", "Select a valid choice."),
        ({"period": "custom", "start": "2020-01-01", "end": "2026-11-30"}, "__all__", "at most 731 days"),
        ({"start": "yesterday", "period": "custom"}, "start", "Enter a valid date."),
    ],
)
def test_bad_filters_are_refused_with_a_clear_message(client, operations, query, field, message):
    client.force_login(operations.user)
    with translation.override("en"):
        response = client.get(DASHBOARD, query, headers={"accept-language": "en"})
        assert response.status_code == 200
        assert response.context["view"] is None
        # The messages are lazy: read them in the language the page was rendered in.
        assert any(message in str(error) for error in response.context["form"].errors[field])
    assert client.get(EXPORT, query, headers={"accept-language": "en"}).status_code == 400


def test_the_presets_cover_the_periods_they_name():
    from analytics.forms import period_dates

    today = datetime.date(2026, 12, 3)  # a Thursday
    assert period_dates("this_week", today) == (datetime.date(2026, 11, 30), today)
    assert period_dates("last_week", today) == (datetime.date(2026, 11, 23), datetime.date(2026, 11, 29))
    assert period_dates("this_month", today) == (datetime.date(2026, 12, 1), today)
    assert period_dates("last_month", today) == (datetime.date(2026, 11, 1), datetime.date(2026, 11, 30))
    assert period_dates("last_90_days", today) == (datetime.date(2026, 9, 5), today)


def test_narrowing_to_a_channel_and_switching_the_dimension(client, operations, homeroom, school):
    client.force_login(operations.user)
    response = client.get(DASHBOARD, {**NOVEMBER, "dimension": "teacher", "channel": "wechat"})
    assert cards(response)["applications"] == "2"  # r1 and r3; r2's order was paid by Alipay
    assert sorted(row[0] for row in table(response, "dimension")) == sorted(["孙老师", "吴老师"])


# --- drill-down ---------------------------------------------------------------------------------


def test_every_table_row_drills_down_to_the_requests_behind_it(client, operations, homeroom, school):
    client.force_login(operations.user)
    response = client.get(DASHBOARD, {**NOVEMBER, "dimension": "teacher"})
    view = response.context["view"]
    by_teacher = {row.cells[0]: row.url for row in view.tables["dimension"].rows}
    assert drill(by_teacher["孙老师"]) == {
        "submitted_at__gte": "2026-11-01T00:00:00+08:00",
        "submitted_at__lt": "2026-12-01T00:00:00+08:00",
        "order__enrollment__homeroom_teacher__id__exact": str(homeroom.pk),
    }
    assert listed(client, by_teacher["孙老师"]) == {school["r1"].request_no, school["r2"].request_no}
    weeks = {row.cells[0]: row.url for row in view.tables["series"].rows}
    # The week of Monday 26 Oct is cut to the period: from 1 Nov.
    assert drill(weeks["2026-10-26"])["submitted_at__gte"] == "2026-11-01T00:00:00+08:00"
    assert listed(client, weeks["2026-11-02"]) == {school["r1"].request_no, school["r2"].request_no}
    assert listed(client, weeks["2026-11-09"]) == {school["r3"].request_no}
    reasons = {row.cells[0]: row.url for row in view.tables["reasons"].rows}
    assert listed(client, reasons["时间冲突"]) == {school["r1"].request_no, school["r3"].request_no}
    assert listed(client, view.url) == {school[key].request_no for key in ("r1", "r2", "r3")}


def test_every_drill_down_lookup_is_accepted(client, operations, homeroom, school):
    client.force_login(operations.user)
    query = {
        "submitted_at__gte": "2026-11-01T00:00:00%2B08:00",
        "submitted_at__lt": "2026-12-01T00:00:00%2B08:00",
        "campus__id__exact": str(school["r1"].campus_id),
        "order__course__id__exact": str(school["course"].pk),
        "order__enrollment__homeroom_teacher__id__exact": str(homeroom.pk),
        "order__channel__exact": "wechat",
        "reason__exact": "time_conflict",
    }
    assert listed(client, f"{REQUESTS}?{'&'.join(f'{k}={v}' for k, v in query.items())}") == {school["r1"].request_no}


def test_other_lookups_are_still_refused(client, operations, school):
    client.force_login(operations.user)
    # Django's DisallowedModelAdminLookup: a lookup neither a filter nor a drill-down one.
    assert client.get(f"{REQUESTS}?student__user__password__startswith=pbkdf2").status_code == 400


def test_a_campus_heads_drill_down_still_shows_only_her_campus(client, campus_head, other_campus, school):
    client.force_login(campus_head.user)
    response = client.get(DASHBOARD, NOVEMBER)
    assert listed(client, response.context["view"].url) == {school["r1"].request_no, school["r2"].request_no}
    # Another campus's drill-down, typed by hand, finds nothing.
    other = f"{REQUESTS}?campus__id__exact={other_campus.pk}&submitted_at__gte=2026-11-01T00:00:00%2B08:00"
    assert listed(client, other) == set()


# --- export -------------------------------------------------------------------------------------


def sheet_rows(response) -> list[tuple]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    book = openpyxl.load_workbook(io.BytesIO(body(response)), read_only=True)
    return list(book.active.iter_rows(values_only=True))


def number(text: str) -> Decimal:
    return Decimal(text.replace(",", "").rstrip("%"))


def test_the_export_holds_the_figures_of_the_page(client, operations, school):
    client.force_login(operations.user)
    page = client.get(DASHBOARD, NOVEMBER)
    rows = sheet_rows(client.get(EXPORT, NOVEMBER))
    assert rows[0][:3] == (zh("Section"), zh("Item"), zh("Applications"))
    sections: dict[str, list[tuple]] = {}
    for row in rows[1:]:
        sections.setdefault(row[0], []).append(row)
    current = sections[zh("This period")][0]
    assert current[1] == "2026-11-01 – 2026-11-30"
    assert current[2] == int(cards(page)["applications"])
    assert Decimal(str(current[5])) == number(cards(page)["approval_rate"])
    assert Decimal(str(current[6])) == number(cards(page)["refunded_amount"])
    assert Decimal(str(current[8])) == number(cards(page)["refund_ratio"])
    assert [
        [
            r[1],
            str(r[2]),
            f"{Decimal(str(r[5])):.1f}%",
            f"{Decimal(str(r[6])):,.2f}",
            f"{Decimal(str(r[7])):,.2f}",
            f"{Decimal(str(r[8])):.2f}%",
        ]
        for r in sections[zh("By %(dimension)s") % {"dimension": "校区"}]
    ] == table(page, "dimension")
    assert [[r[1], str(r[2]), str(r[3]), str(r[4])] for r in sections[zh("Over time")]] == table(page, "series")


def test_a_campus_heads_export_holds_her_campus_only(client, campus_head, school):
    client.force_login(campus_head.user)
    rows = sheet_rows(client.get(EXPORT, NOVEMBER))
    labels = {row[1] for row in rows}
    assert "北京海淀校区" in labels
    assert "上海徐汇校区" not in labels
    current = next(row for row in rows if row[0] == zh("This period"))
    assert current[2] == 2
    assert Decimal(str(current[6])) == Decimal("500.00")


def test_the_export_is_named_after_its_view(client, operations, school):
    client.force_login(operations.user)
    response = client.get(EXPORT, {**NOVEMBER, "dimension": "course"})
    assert "2026-11-01_2026-11-30_course.xlsx" in response["Content-Disposition"]
    assert {"private", "no-store"} <= {part.strip() for part in response["Cache-Control"].split(",")}


def test_roles_that_see_the_dashboard(db, campus):
    allowed = {
        role
        for role in StaffRole.values
        if factories.make_staff(role=role, campus=campus).user.has_perm("analytics.view_dashboard")
    }
    assert allowed == {"operations", "campus_head", "supervisor", "finance"}
