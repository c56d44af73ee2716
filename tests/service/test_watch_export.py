"""The learning watch's export: the page's rows, with its filters and sort, as CSV (UTF-8 with a
BOM, streamed) and XLSX, named in English with the date, for those who may see the page only."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from service.watch import Flag
from tests import factories
from tests.finance.helpers import body, csv_rows, xlsx_sheet

from .watch_data import DAY, build_school, enroll

pytestmark = pytest.mark.django_db

CSV = reverse("admin:service_learning_watch_export", args=["csv"])
XLSX = reverse("admin:service_learning_watch_export", args=["xlsx"])
HEADER = [
    "Student number",
    "Student",
    "Course",
    "Homeroom teacher",
    "Lessons consumed",
    "Course lessons",
    "Completion (%)",
    "Course time elapsed (%)",
    "Watch progress (%)",
    "Homework submitted",
    "Homework rate (%)",
    "Tests taken",
    "Average score",
    "Last learning time",
    "Last learning",
    "Learning flags",
]


@pytest.fixture(autouse=True)
def _english(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def school(campus, other_campus, homeroom, supervisor, other_campus_homeroom):
    return build_school(
        now=timezone.now(),
        campus=campus,
        other_campus=other_campus,
        homeroom=homeroom,
        supervisor=supervisor,
        other_campus_homeroom=other_campus_homeroom,
    )


def today() -> str:
    return f"{timezone.localdate():%Y-%m-%d}"


def test_csv_is_streamed_with_a_bom_an_english_dated_name_and_no_cache(client, school, homeroom):
    client.force_login(homeroom.user)

    response = client.get(CSV)

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith(f'attachment; filename="learning-watch-{today()}.csv"')
    assert "no-store" in response["Cache-Control"]
    data = body(response)
    assert data.startswith("\ufeff".encode())
    rows = csv_rows(data)
    assert rows[0] == HEADER
    assert len(rows) == 1 + 6  # her six students of the running course


def test_csv_rows_carry_the_figures_and_flags(client, school, homeroom):
    client.force_login(homeroom.user)

    rows = {row[1]: row for row in csv_rows(body(client.get(CSV)))[1:]}

    ok = rows["甲同学"]
    student = school.enrollments["ok"].order.student
    assert ok[0] == student.student_no
    assert ok[2:7] == ["雅思听力", "孙老师", "10", "20", "50.00"]
    assert ok[8:13] == ["45.00", "8", "80.00", "2", "85.00"]
    last = timezone.localtime(school.enrollments["ok"].last_learning_at)
    assert ok[13] == f"{last:%Y-%m-%d %H:%M:%S}"
    assert ok[14] == "1 day ago"
    assert ok[15] == ""
    never = rows["己同学"]
    assert never[10] == ""  # no lesson: no homework rate
    assert never[12] == never[13] == ""
    assert never[14] == "never learned"
    assert never[15] == "Inactive learner、Falling behind"


def test_the_export_follows_the_filters_and_sort_of_the_page(client, school, supervisor):
    client.force_login(supervisor.user)

    rows = csv_rows(body(client.get(CSV, {"flag": Flag.ANY, "o": "-completion"})))[1:]

    # The supervisor's campus and team: flagged day7 (30 %), day6 (25 %), low (50 %), never (0 %).
    assert [row[1] for row in rows] == ["丁同学", "乙同学", "丙同学", "己同学"]


def test_the_export_has_every_page(client, school, homeroom):
    course = school.enrollments["ok"].order.course
    for n in range(60):
        enroll(course, homeroom, name=f"学员{n}", paid_at=timezone.now() - 12 * DAY, last_learning_at=timezone.now())
    client.force_login(homeroom.user)

    assert len(csv_rows(body(client.get(CSV)))) == 1 + 66


def test_xlsx_holds_the_same_rows_typed(client, school, homeroom):
    client.force_login(homeroom.user)

    response = client.get(XLSX, {"o": "student"})

    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response["Content-Disposition"].startswith(f'attachment; filename="learning-watch-{today()}.xlsx"')
    sheet = xlsx_sheet(body(response))
    values = list(sheet.values)
    assert list(values[0]) == HEADER
    assert [row[1] for row in values[1:]] == sorted(row[1] for row in values[1:])
    ok = next(row for row in values[1:] if row[1] == "甲同学")
    assert (ok[4], ok[5], ok[6], ok[12]) == (10, 20, 50, 85)
    assert isinstance(ok[13], datetime.datetime)
    assert Decimal(str(ok[10])) == Decimal("80")


def test_an_unknown_format_is_not_found(client, school, homeroom):
    client.force_login(homeroom.user)

    assert client.get(reverse("admin:service_learning_watch_export", args=["pdf"])).status_code == 404


def test_a_filter_outside_her_scope_is_refused(client, school, homeroom):
    client.force_login(homeroom.user)

    response = client.get(CSV, {"teacher": school.wu.pk})

    assert response.status_code == 400
    assert "壬同学" not in response.content.decode()


def test_the_export_keeps_to_her_students(client, school, homeroom):
    client.force_login(homeroom.user)

    names = {row[1] for row in csv_rows(body(client.get(CSV, {"period": "all"})))[1:]}

    assert names == {"甲同学", "乙同学", "丙同学", "丁同学", "戊同学", "己同学", "辛同学"}


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(CSV)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize("who", ["student", "finance"])
def test_who_lacks_the_permission_gets_no_file(client, student, finance, who):
    client.force_login(student.user if who == "student" else finance.user)

    assert client.get(CSV).status_code == 403
    assert client.get(XLSX).status_code == 403


def test_a_student_name_that_looks_like_a_formula_is_made_inert(client, campus, homeroom):
    course = factories.make_course(campus=campus, starts_at=timezone.now() - 5 * DAY, days=30)
    enroll(course, homeroom, name="=HYPERLINK(1)", paid_at=timezone.now() - 6 * DAY)
    client.force_login(homeroom.user)

    rows = csv_rows(body(client.get(CSV)))

    assert rows[1][1] == "'=HYPERLINK(1)"
