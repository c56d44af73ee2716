"""The learning watch (学习看板): its figures and flags at their boundaries, who sees whom, the
filters, the sort whitelist, the summary, the pages and their query count (``service.watch``),
and the admin page with its permission (``service.admin.watch``)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from schoolops.models import Staff, StaffRole
from schoolops.roles import ROLE_PERMISSIONS
from service.models import ServiceSettings
from service.watch import (
    DEFAULT_SORT,
    SORTS,
    Flag,
    Group,
    Period,
    WatchFilters,
    since_text,
    sort_key,
    watch_page,
    watch_scope,
)
from students.models import Enrollment
from tests import factories

from .watch_data import DAY, build_school, enroll

pytestmark = pytest.mark.django_db

WATCH = reverse("admin:service_learning_watch")
NOW = datetime.datetime(2026, 12, 10, 10, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=8)))


@pytest.fixture(autouse=True)
def _english(client):
    """The watch's new strings have no translation in these tests' catalog: read the English."""
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def superuser(db):
    return factories.make_user(name="管理员", is_superuser=True, is_staff=True)


@pytest.fixture
def school(campus, other_campus, homeroom, supervisor, other_campus_homeroom):
    return build_school(
        now=NOW,
        campus=campus,
        other_campus=other_campus,
        homeroom=homeroom,
        supervisor=supervisor,
        other_campus_homeroom=other_campus_homeroom,
    )


@pytest.fixture
def live_school(campus, other_campus, homeroom, supervisor, other_campus_homeroom):
    """The same school on the real clock, for the page (which reads ``timezone.now()``)."""
    return build_school(
        now=timezone.now(),
        campus=campus,
        other_campus=other_campus,
        homeroom=homeroom,
        supervisor=supervisor,
        other_campus_homeroom=other_campus_homeroom,
    )


def page_of(user, school, per_page: int = 50, page_number: int = 1, **filters):
    return watch_page(
        user=user, filters=WatchFilters(**filters), now=school.now, per_page=per_page, page_number=page_number
    )


def rows_by_key(user, school, **filters):
    watch = page_of(user, school, **filters)
    return dict(zip(school.names(watch.rows), watch.rows, strict=True))


# --- Figures and flags


def test_figures_are_computed_per_student(superuser, school):
    rows = rows_by_key(superuser, school)

    ok = rows["ok"]
    assert (ok.completion, ok.elapsed, ok.watch_progress) == (Decimal("50.0"), Decimal("50.0"), Decimal("45.00"))
    assert (ok.homework_rate, ok.tests_taken, ok.test_score_avg) == (Decimal("80.0"), 2, Decimal("85.00"))
    assert ok.since == "1 day ago"
    assert rows["low"].homework_rate == Decimal("50.0")
    assert rows["never"].homework_rate is None  # no lesson yet: no rate
    assert rows["never"].since == "never learned"


@pytest.mark.parametrize(
    ("key", "flags"),
    [
        ("ok", []),
        ("day7", [Flag.INACTIVE]),  # exactly 7 days without learning; exactly 20 points behind is not behind
        ("day6", [Flag.BEHIND]),  # 6 days 23:59 without learning; 25 points behind
        ("low", [Flag.LOW_SCORE]),  # 59.99
        ("sixty", []),  # 60.00 is not below 60
        ("never", [Flag.INACTIVE, Flag.BEHIND]),  # counted from the course's start, 10 days ago
        ("li", []),
        # The other campus's own settings: 3 days, 10 points, 70.
        ("wu", [Flag.INACTIVE, Flag.BEHIND, Flag.LOW_SCORE]),
        ("zheng", []),
    ],
)
def test_flags_at_their_boundaries(superuser, school, key, flags):
    row = rows_by_key(superuser, school)[key]

    assert [flag for flag, _label in row.flags] == flags


def test_a_campus_without_settings_uses_the_defaults_and_a_new_row_moves_the_boundaries(superuser, school, campus):
    ServiceSettings.objects.create(campus=campus, inactive_days=8, behind_points=25, low_score=59)

    rows = rows_by_key(superuser, school)

    assert [flag for flag, _label in rows["day7"].flags] == []  # 7 days < 8
    assert [flag for flag, _label in rows["day6"].flags] == []  # 25 points is not more than 25
    assert [flag for flag, _label in rows["low"].flags] == []  # 59.99 is not below 59


def test_a_course_not_yet_started_raises_no_flag(superuser, school):
    rows = rows_by_key(superuser, school, period=Period.ALL)

    assert rows["upcoming"].flags == []
    assert rows["upcoming"].elapsed == Decimal("0.0")


def test_an_ended_course_is_no_longer_inactive_but_may_be_behind(superuser, school, campus, homeroom):
    ended = factories.make_course(campus=campus, lessons=10, starts_at=NOW - 40 * DAY, days=30)
    school.enrollments["ended"] = enroll(
        ended, homeroom, name="结课同学", paid_at=NOW - 41 * DAY, lessons_consumed=5, last_learning_at=NOW - 20 * DAY
    )

    rows = rows_by_key(superuser, school, period=Period.ALL)

    assert [flag for flag, _label in rows["ended"].flags] == [Flag.BEHIND]
    assert "ended" not in rows_by_key(superuser, school)  # running courses only by default


def test_a_refunded_order_is_not_watched(superuser, school):
    assert len(page_of(superuser, school, period=Period.ALL).rows) == 10
    assert not any(row.student_name == "退费同学" for row in page_of(superuser, school, period=Period.ALL).rows)


@pytest.mark.parametrize(
    ("flag", "keys"),
    [
        (Flag.INACTIVE, {"day7", "never", "wu"}),
        (Flag.BEHIND, {"day6", "never", "wu"}),
        (Flag.LOW_SCORE, {"low", "wu"}),
        (Flag.ANY, {"day7", "day6", "never", "low", "wu"}),
        ("", {"ok", "day7", "day6", "low", "sixty", "never", "li", "wu", "zheng"}),
    ],
)
def test_the_flag_filter_shows_the_flagged_students_and_the_count_agrees(superuser, school, flag, keys):
    watch = page_of(superuser, school, flag=flag)

    assert set(school.names(watch.rows)) == keys
    assert watch.count == len(keys) == watch.page.paginator.count


@pytest.mark.parametrize(
    ("last", "text"),
    [
        (None, "never learned"),
        (NOW - datetime.timedelta(minutes=59), "just now"),
        (NOW - datetime.timedelta(hours=1), "1 hour ago"),
        (NOW - datetime.timedelta(hours=23, minutes=59), "23 hours ago"),
        (NOW - DAY, "1 day ago"),
        (NOW - 3 * DAY - datetime.timedelta(hours=5), "3 days ago"),
    ],
)
def test_last_learning_reads_as_a_teacher_says_it(last, text):
    assert since_text(last, NOW) == text


# --- Scope


def test_a_homeroom_teacher_sees_only_her_students(school, homeroom):
    watch = page_of(homeroom.user, school, period=Period.ALL)

    assert set(school.names(watch.rows)) == {"ok", "day7", "day6", "low", "sixty", "never", "upcoming"}


def test_a_teacher_standing_in_for_a_colleague_sees_hers_while_the_delegation_runs(school, homeroom):
    li = school.li
    li.delegate, li.delegate_from, li.delegate_until = homeroom, NOW.date() - DAY, NOW.date()
    li.save()

    assert "li" in school.names(page_of(homeroom.user, school).rows)
    li.delegate_until = NOW.date() - DAY
    li.save()
    assert "li" not in school.names(page_of(homeroom.user, school).rows)


def test_a_supervisor_sees_her_campus_and_her_team_elsewhere(school, supervisor):
    watch = page_of(supervisor.user, school)

    assert set(school.names(watch.rows)) == {"ok", "day7", "day6", "low", "sixty", "never", "li", "zheng"}


def test_a_campus_head_sees_her_campus(school, campus_head):
    assert set(school.names(page_of(campus_head.user, school).rows)) == {
        "ok",
        "day7",
        "day6",
        "low",
        "sixty",
        "never",
        "li",
    }


@pytest.mark.parametrize("who", ["operations", "superuser"])
def test_operations_and_superusers_see_every_campus(school, operations, superuser, who):
    user = operations.user if who == "operations" else superuser

    assert len(page_of(user, school).rows) == 9
    assert watch_scope(user, today=NOW.date()) is None


def test_staff_of_another_role_with_the_permission_see_their_campus(school, other_campus):
    clerk = factories.make_staff(role=StaffRole.SERVICE, campus=other_campus)
    clerk.user.user_permissions.add(Permission.objects.get(codename="view_learning_watch"))

    assert set(school.names(page_of(clerk.user, school).rows)) == {"wu", "zheng"}


def test_a_user_without_staff_sees_nothing(school, outsider):
    assert page_of(outsider, school).rows == []


def test_the_roles_hold_the_permission(db):
    holders = {role for role, perms in ROLE_PERMISSIONS.items() if "service.view_learning_watch" in perms}

    assert holders == {"homeroom", "supervisor", "campus_head", "operations"}


# --- Sort


@pytest.mark.parametrize(
    ("sort", "keys"),
    [
        ("completion", ["never", "day6", "day7", "wu", "ok", "low", "sixty", "zheng", "li"]),  # ties by enrollment
        ("-score", ["ok", "wu", "sixty", "low", "day7", "day6", "never", "li", "zheng"]),  # no test: last
        ("score", ["low", "sixty", "wu", "ok", "day7", "day6", "never", "li", "zheng"]),  # no test: last
        ("last", ["never", "day7", "day6", "li", "wu", "ok", "low", "sixty", "zheng"]),  # never learned: first
        ("-last", ["zheng", "low", "sixty", "ok", "li", "wu", "day6", "day7", "never"]),  # never learned: last
        ("-homework", ["sixty", "ok", "low", "day7", "day6", "li", "wu", "zheng", "never"]),
        ("tests", ["day7", "day6", "never", "li", "zheng", "low", "wu", "ok", "sixty"]),
    ],
)
def test_every_figure_sorts_server_side(superuser, school, sort, keys):
    assert school.names(page_of(superuser, school, sort=sort).rows) == keys


@pytest.mark.parametrize("sort", list(SORTS) + [f"-{key}" for key in SORTS])
def test_every_whitelisted_sort_runs(superuser, school, sort):
    assert len(page_of(superuser, school, sort=sort).rows) == 9


@pytest.mark.parametrize("raw", [None, "", "password", "-", "--last", "order__student__user__password", "pk; drop"])
def test_an_unknown_sort_key_falls_back_to_the_default(raw):
    assert sort_key(raw) == DEFAULT_SORT


def test_the_page_sorts_by_the_default_for_a_bad_key_without_an_error(client, live_school, homeroom):
    client.force_login(homeroom.user)

    bad = client.get(WATCH, {"o": "order__student__user__password"})
    default = client.get(WATCH)

    assert bad.status_code == 200
    assert [r.enrollment_id for r in bad.context["watch"].rows] == [
        r.enrollment_id for r in default.context["watch"].rows
    ]
    assert bad.context["form"].sort == DEFAULT_SORT


# --- Summary


def test_the_summary_counts_and_averages_per_teacher(superuser, school):
    watch = page_of(superuser, school)

    groups = {group.label: group for group in watch.groups}
    sun = groups["孙老师"]
    assert (sun.students, sun.inactive, sun.behind, sun.low_score, sun.flagged) == (6, 2, 2, 1, 4)
    # Completion 50, 30, 25, 50, 50, 0; homework 80, 0, 0, 50, 100 (never: no rate); scores 85, 59.99, 60.
    assert sun.completion == Decimal("34.2")
    assert sun.homework_rate == Decimal("46.0")
    assert sun.score == Decimal("68.33")
    total = watch.total
    assert (total.students, total.flagged, total.inactive, total.behind, total.low_score) == (9, 5, 3, 3, 2)
    # Scores of the 4 students with tests: 85, 59.99, 60, 65.
    assert total.score == Decimal("67.5")


def test_the_summary_by_course_and_its_counts_ignore_the_flag_filter(superuser, school):
    watch = page_of(superuser, school, group=Group.COURSE, flag=Flag.LOW_SCORE)

    assert [(g.label, g.students, g.low_score) for g in watch.groups] == [("雅思口语", 2, 1), ("雅思听力", 7, 1)]
    assert len(watch.rows) == 2


def test_teacher_and_course_filters_narrow_summary_and_rows(superuser, school):
    course = school.enrollments["wu"].order.course
    watch = page_of(superuser, school, course_id=course.pk, teacher_id=school.zheng.pk)

    assert school.names(watch.rows) == ["zheng"]
    assert watch.total.students == 1


# --- Pages and queries


def test_pages_split_the_students(superuser, school):
    first = page_of(superuser, school, per_page=4, sort="completion")
    third = page_of(superuser, school, per_page=4, sort="completion", page_number=3)
    beyond = page_of(superuser, school, per_page=4, sort="completion", page_number=99)

    assert school.names(first.rows) == ["never", "day6", "day7", "wu"]
    assert school.names(third.rows) == ["li"]
    assert school.names(beyond.rows) == ["li"]  # past the end: the last page
    assert first.page.paginator.num_pages == 3


def _queries_for_selector(user, school) -> int:
    with CaptureQueriesContext(connection) as captured:
        page_of(user, school)
    return len(captured)


def test_the_selector_takes_three_queries_however_many_students(superuser, school, campus, homeroom):
    few = _queries_for_selector(superuser, school)
    course = school.enrollments["ok"].order.course
    for n in range(30):
        enroll(
            course,
            homeroom,
            name=f"学员{n}",
            paid_at=NOW - 12 * DAY,
            lessons_consumed=n % 20,
            last_learning_at=NOW - n * DAY,
        )

    assert few == _queries_for_selector(superuser, school) == 3  # settings, summary, page


def test_the_page_takes_a_fixed_number_of_queries(
    client, live_school, supervisor, homeroom, django_assert_max_num_queries
):
    client.force_login(supervisor.user)
    client.get(WATCH)  # warm the session, content types and permission caches of this connection
    course = live_school.enrollments["ok"].order.course
    for n in range(40):
        enroll(
            course,
            homeroom,
            name=f"学员{n}",
            paid_at=timezone.now() - 12 * DAY,
            last_learning_at=timezone.now() - n * DAY,
        )

    # session, user, permissions (2), staff, settings, summary, page, teacher and course choices
    with django_assert_max_num_queries(12):
        response = client.get(WATCH, {"teacher": homeroom.pk, "flag": Flag.INACTIVE, "o": "-completion"})

    assert response.status_code == 200
    assert len(response.context["watch"].rows) == response.context["watch"].count > 30


# --- The page


def test_the_page_lists_her_students_with_their_figures(client, live_school, homeroom):
    client.force_login(homeroom.user)

    response = client.get(WATCH)

    page = response.content.decode()
    assert response.status_code == 200
    assert "Learning watch" in page
    assert "甲同学" in page and "庚同学" not in page and "壬同学" not in page
    assert "Homework rate: homework handed in ÷ lessons consumed" in page  # how the rate is counted
    assert "no learning for 7 days" in page  # her campus's setting


def test_the_page_filters_by_teacher_course_and_flag(client, live_school, supervisor):
    client.force_login(supervisor.user)
    course = live_school.enrollments["ok"].order.course

    response = client.get(WATCH, {"teacher": live_school.li.pk, "course": course.pk})

    assert [row.student_name for row in response.context["watch"].rows] == ["庚同学"]


def test_a_teacher_outside_her_scope_is_a_form_error_not_a_view(client, live_school, homeroom):
    client.force_login(homeroom.user)

    response = client.get(WATCH, {"teacher": live_school.wu.pk})

    assert response.status_code == 200
    assert response.context["watch"] is None
    assert response.context["form"].errors["teacher"]
    assert "壬同学" not in response.content.decode()


def test_the_sort_links_keep_the_filters_and_turn_the_sorted_column_round(client, live_school, homeroom):
    client.force_login(homeroom.user)

    response = client.get(WATCH, {"flag": Flag.ANY, "o": "completion", "p": "1"})

    headings = {h.key: h for h in response.context["headings"]}
    assert headings["completion"].direction == "asc"
    assert headings["completion"].url == "?flag=any&o=-completion"
    assert headings["score"].url == "?flag=any&o=score"
    assert headings[""].url == ""  # the flags column is not sortable


def test_the_export_links_carry_the_filters_and_sort_but_not_the_page(client, live_school, homeroom):
    client.force_login(homeroom.user)

    response = client.get(WATCH, {"flag": Flag.ANY, "o": "-completion", "p": "2"})

    csv = reverse("admin:service_learning_watch_export", args=["csv"])
    xlsx = reverse("admin:service_learning_watch_export", args=["xlsx"])
    assert response.context["csv_url"] == f"{csv}?flag=any&o=-completion"
    assert response.context["xlsx_url"] == f"{xlsx}?flag=any&o=-completion"


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(WATCH)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize("who", ["student", "finance", "outsider"])
def test_who_lacks_the_permission_is_refused(client, student, finance, outsider, who):
    user = {"student": student.user, "finance": finance.user, "outsider": outsider}[who]
    client.force_login(user)

    assert client.get(WATCH).status_code == 403


@pytest.mark.parametrize("role", ["homeroom", "supervisor", "campus_head", "operations"])
def test_the_roles_with_the_permission_open_the_page(client, campus, role):
    staff = factories.make_staff(role=role, campus=campus)
    client.force_login(staff.user)

    assert client.get(WATCH).status_code == 200


def test_the_admin_index_lists_the_watch_for_those_allowed_only(client, homeroom, finance):
    client.force_login(homeroom.user)
    assert WATCH in client.get(reverse("admin:index")).content.decode()
    client.force_login(finance.user)
    assert WATCH not in client.get(reverse("admin:index")).content.decode()


def test_the_page_carries_no_inline_style_or_script(client, live_school, homeroom):
    client.force_login(homeroom.user)

    page = client.get(WATCH).content.decode()

    assert " style=" not in page
    for tag in page.split("<script")[1:]:
        opening = tag.split(">", 1)[0]
        assert "src=" in opening or 'type="application/json"' in opening or "nonce=" in opening, opening


def test_enrollments_keep_their_figures_untouched_by_the_page(client, live_school, homeroom):
    before = list(Enrollment.objects.order_by("pk").values())
    client.force_login(homeroom.user)
    client.get(WATCH, {"flag": Flag.ANY})

    assert list(Enrollment.objects.order_by("pk").values()) == before
    assert Staff.objects.filter(pk=homeroom.pk).exists()


def test_the_page_is_titled_in_chinese(client, live_school, homeroom):
    client.force_login(homeroom.user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "zh-hans"
    with translation.override("zh-hans"):
        page = client.get(WATCH).content.decode()

    assert "<title>学习看板" in page
    assert "Learning watch" not in page
