"""The workbench (the service task list): who sees which tasks, the tabs and their counts on the
Asia/Shanghai day, the teacher filter and the overdue e-mail's link, the columns, and a query
count that does not grow with the rows."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import ngettext

from schoolops.models import StaffRole
from service.models import ServiceTask, TaskKind, TaskStatus
from service.selectors import Tab, tab_condition, tab_counts, tasks_visible_to
from tests import factories
from tests.refunds.helpers import zh

from .conftest import FIGURES, at, enrolled, logged_in, make_task

pytestmark = pytest.mark.django_db

LIST = reverse("admin:service_servicetask_changelist")


def shown(response) -> set[int]:
    assert response.status_code == 200
    return {task.pk for task in response.context["cl"].result_list}


def tab_count(response, key: str) -> int:
    return next(tab["count"] for tab in response.context["tabs"] if tab["key"] == key)


# --- Who sees which tasks ---------------------------------------------------------------------------


@pytest.fixture
def cast(campus, homeroom, colleague, other_team_teacher, other_campus, other_campus_homeroom):
    """One task due in three hours for each of four teachers: 孙老师 and 周老师 (钱主管's team),
    郑老师 (冯主管's team), all at the campus, and 吴老师 at the other campus."""
    return {
        name: make_task(enrolled(place, teacher))
        for name, place, teacher in (
            ("sun", campus, homeroom),
            ("zhou", campus, colleague),
            ("zheng", campus, other_team_teacher),
            ("wu", other_campus, other_campus_homeroom),
        )
    }


def test_a_homeroom_teacher_sees_only_her_own_tasks(client, homeroom, cast):
    assert shown(logged_in(client, homeroom).get(LIST)) == {cast["sun"].pk}


def test_a_teacher_sees_a_colleagues_tasks_while_she_stands_in_for_her(client, homeroom, colleague, cast):
    today = timezone.localdate()
    colleague.delegate, colleague.delegate_from, colleague.delegate_until = homeroom, today, today
    colleague.save()
    response = logged_in(client, homeroom).get(LIST)
    assert shown(response) == {cast["sun"].pk, cast["zhou"].pk}
    assert "teacher_column" not in response.context["cl"].list_display  # a teacher's own list


def test_a_delegation_that_ended_yesterday_shows_nothing_more(client, homeroom, colleague, cast):
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    colleague.delegate, colleague.delegate_from, colleague.delegate_until = homeroom, yesterday, yesterday
    colleague.save()
    assert shown(logged_in(client, homeroom).get(LIST)) == {cast["sun"].pk}


def test_a_supervisor_sees_her_team_and_her_campus_but_not_another_campus(client, supervisor, cast):
    response = logged_in(client, supervisor).get(LIST)
    assert shown(response) == {cast["sun"].pk, cast["zhou"].pk, cast["zheng"].pk}
    assert "teacher_column" in response.context["cl"].list_display


def test_a_supervisor_sees_her_team_member_at_another_campus(client, supervisor, other_campus, cast):
    away = factories.make_staff(role=StaffRole.HOMEROOM, campus=other_campus, manager=supervisor, name="远方老师")
    task = make_task(enrolled(other_campus, away))
    assert task.pk in shown(logged_in(client, supervisor).get(LIST))
    assert cast["wu"].pk not in shown(client.get(LIST))


def test_a_campus_head_sees_her_campus(client, campus_head, cast):
    assert shown(logged_in(client, campus_head).get(LIST)) == {cast["sun"].pk, cast["zhou"].pk, cast["zheng"].pk}


def test_a_superuser_sees_every_campus(client, superuser, cast):
    assert shown(logged_in(client, superuser).get(LIST)) == {task.pk for task in cast.values()}


@pytest.mark.parametrize("role", [StaffRole.FINANCE, StaffRole.SERVICE, StaffRole.QUALITY])
def test_staff_who_do_not_serve_students_have_no_workbench(client, campus, cast, role):
    other = factories.make_staff(role=role, campus=campus)
    assert logged_in(client, other).get(LIST).status_code == 403


def test_operations_read_every_campus_tasks_without_working_them(client, operations, cast):
    """Operations read the service figures (the dashboard) and so the tasks, everywhere; they work none."""
    client = logged_in(client, operations)
    assert shown(client.get(LIST)) == {task.pk for task in cast.values()}
    html = client.get(reverse("admin:service_servicetask_change", args=[cast["wu"].pk])).content.decode()
    assert 'id="outcome-form"' not in html and 'id="read-only"' in html


def test_a_task_of_another_teacher_answers_404_to_a_homeroom_teacher(client, homeroom, cast):
    client = logged_in(client, homeroom)
    for name in ("zhou", "wu"):
        assert client.get(reverse("admin:service_servicetask_change", args=[cast[name].pk])).status_code == 404
        assert client.get(reverse("admin:service_servicetask_history", args=[cast[name].pk])).status_code == 404


def test_another_campus_task_answers_404_to_a_supervisor(client, supervisor, cast):
    url = reverse("admin:service_servicetask_change", args=[cast["wu"].pk])
    assert logged_in(client, supervisor).get(url).status_code == 404


# --- The tabs ----------------------------------------------------------------------------------------


@pytest.fixture
def week(order, clock):
    """At 10:00 on 5 December: tasks due yesterday, at 08:00 and 18:00 today, the day after
    tomorrow, in ten days, and one done."""
    now = clock(at("2026-12-05 10:00"))
    due = {
        "yesterday": at("2026-12-04 18:00"),
        "this_morning": at("2026-12-05 08:00"),
        "tonight": at("2026-12-05 18:00"),
        "in_two_days": at("2026-12-07 09:00"),
        "in_ten_days": at("2026-12-15 09:00"),
    }
    tasks = {
        name: make_task(order, kind=TaskKind.FOLLOW_UP, trigger=name[:20], due_at=when) for name, when in due.items()
    }
    tasks["done"] = make_task(
        order, kind=TaskKind.RENEWAL, due_at=at("2026-12-05 09:00"), status=TaskStatus.DONE, renewal_outcome="renewed"
    )
    return now, tasks


@pytest.mark.parametrize(
    ("tab", "expected"),
    [
        (None, {"this_morning", "tonight"}),
        (Tab.TODAY, {"this_morning", "tonight"}),
        (Tab.OVERDUE, {"yesterday", "this_morning"}),
        (Tab.UPCOMING, {"in_two_days"}),
        (Tab.DONE, {"done"}),
    ],
)
def test_each_tab_holds_its_tasks(client, homeroom, week, tab, expected):
    _now, tasks = week
    response = logged_in(client, homeroom).get(LIST, {"due": tab} if tab else {})
    assert shown(response) == {tasks[name].pk for name in expected}


def test_the_tabs_show_their_counts(client, homeroom, week):
    response = logged_in(client, homeroom).get(LIST)
    assert {tab["key"]: tab["count"] for tab in response.context["tabs"]} == {
        "today": 2,
        "overdue": 2,
        "upcoming": 1,
        "done": 1,
    }
    html = response.content.decode()
    assert 'id="tab-today"' in html and 'aria-current="page"' in html
    assert zh("Next 7 days") in html


def test_today_is_the_day_in_shanghai_not_in_utc(order):
    """At 07:30 in Shanghai it is still yesterday in UTC: a task due at 06:00 Shanghai time today
    is today's (and overdue), one due at 23:30 last night is not today's."""
    now = at("2026-12-05 07:30")
    early = make_task(order, kind=TaskKind.FOLLOW_UP, trigger="a", due_at=at("2026-12-05 06:00"))
    last_night = make_task(order, kind=TaskKind.FOLLOW_UP, trigger="b", due_at=at("2026-12-04 23:30"))
    just_before_midnight = make_task(order, kind=TaskKind.FOLLOW_UP, trigger="c", due_at=at("2026-12-05 23:59"))
    tomorrow = make_task(order, kind=TaskKind.FOLLOW_UP, trigger="d", due_at=at("2026-12-06 00:00"))
    today = set(ServiceTask.objects.filter(tab_condition(Tab.TODAY, now=now)).values_list("pk", flat=True))
    assert today == {early.pk, just_before_midnight.pk}
    upcoming = set(ServiceTask.objects.filter(tab_condition(Tab.UPCOMING, now=now)).values_list("pk", flat=True))
    assert upcoming == {tomorrow.pk}
    assert last_night.pk in set(
        ServiceTask.objects.filter(tab_condition(Tab.OVERDUE, now=now)).values_list("pk", flat=True)
    )


def test_upcoming_ends_seven_days_after_today(order):
    now = at("2026-12-05 12:00")
    last = make_task(order, kind=TaskKind.FOLLOW_UP, trigger="a", due_at=at("2026-12-12 23:59"))
    make_task(order, kind=TaskKind.FOLLOW_UP, trigger="b", due_at=at("2026-12-13 00:00"))
    counts = tab_counts(ServiceTask.objects.all(), now=now)
    assert counts["upcoming"] == 1
    assert set(ServiceTask.objects.filter(tab_condition(Tab.UPCOMING, now=now)).values_list("pk", flat=True)) == {
        last.pk
    }


def test_a_closed_task_is_under_done_and_never_overdue(order):
    now = timezone.now()
    make_task(order, due_at=now - datetime.timedelta(days=3), status=TaskStatus.CLOSED, closed_reason="退费")
    assert tab_counts(ServiceTask.objects.all(), now=now) == {"today": 0, "overdue": 0, "upcoming": 0, "done": 1}


# --- The teacher filter and the overdue e-mail's link -------------------------------------------------


def test_the_overdue_email_link_lists_that_teachers_overdue_tasks(client, supervisor, homeroom, colleague):
    now = timezone.now()
    late = make_task(enrolled(homeroom.campus, homeroom), due_at=now - datetime.timedelta(hours=6))
    make_task(enrolled(homeroom.campus, homeroom), due_at=now + datetime.timedelta(days=2))
    make_task(enrolled(colleague.campus, colleague), due_at=now - datetime.timedelta(hours=6))
    response = logged_in(client, supervisor).get(LIST, {"teacher": homeroom.pk, "due": "overdue"})
    assert shown(response) == {late.pk}
    assert tab_count(response, "overdue") == 1  # the counts follow the teacher chosen
    assert tab_count(response, "upcoming") == 1
    html = response.content.decode()
    assert f'href="?teacher={homeroom.pk}&amp;due=today"' in html  # the tabs keep the teacher


def test_supervisors_get_the_teacher_filter_and_teachers_do_not(client, supervisor, homeroom, colleague):
    make_task(enrolled(homeroom.campus, homeroom))
    filters = logged_in(client, supervisor).get(LIST).context["cl"].filter_specs
    assert [spec.parameter_name for spec in filters] == ["teacher"]
    assert {value for value, _label in filters[0].lookup_choices} == {str(homeroom.pk), str(colleague.pk)}
    assert logged_in(client, homeroom).get(LIST).context["cl"].filter_specs == []


def test_a_teacher_cannot_list_another_teachers_tasks_by_the_url(client, homeroom, colleague):
    theirs = make_task(enrolled(colleague.campus, colleague))
    response = logged_in(client, homeroom).get(LIST, {"teacher": colleague.pk})
    assert theirs.pk not in shown(response)


# --- The columns ----------------------------------------------------------------------------------


def test_a_row_shows_the_task_the_student_her_phone_the_course_the_time_left_and_her_figures(
    client, homeroom, order, clock
):
    clock(at("2026-12-05 10:00"))
    order.student.user.phone = "13800138000"
    order.student.user.save()
    task = make_task(order, kind=TaskKind.INACTIVE, trigger="x", due_at=at("2026-12-05 13:30"), facts=FIGURES)
    html = logged_in(client, homeroom).get(LIST).content.decode()
    assert reverse("admin:service_servicetask_change", args=[task.pk]) in html
    assert reverse("admin:service_student", args=[order.student.pk]) in html
    assert "王小明" in html and 'href="tel:13800138000"' in html
    assert order.course.name in html
    with translation.override("zh-hans"):
        assert ngettext("%(count)d hour left", "%(count)d hours left", 3) % {"count": 3} in html
    assert "45%" in html and "82" in html and "8" in html


def test_an_overdue_row_says_how_late_in_days(client, homeroom, order, clock):
    clock(at("2026-12-05 10:00"))
    make_task(order, due_at=at("2026-12-03 09:00"))
    html = logged_in(client, homeroom).get(LIST, {"due": "overdue"}).content.decode()
    assert "service-overdue" in html
    assert "2 days" in html or "2 天" in html


# --- Queries ----------------------------------------------------------------------------------------


def _list_queries(client, url, **params) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url, params).status_code == 200
    return len(queries)


@pytest.mark.parametrize("viewer", ["homeroom", "supervisor"])
def test_the_workbench_queries_do_not_grow_with_its_rows(
    client, request, campus, homeroom, django_assert_max_num_queries, viewer
):
    now = timezone.now()
    make_task(
        enrolled(campus, homeroom), kind=TaskKind.INACTIVE, due_at=now + datetime.timedelta(days=2), facts=FIGURES
    )
    client = logged_in(client, request.getfixturevalue(viewer))
    few = _list_queries(client, LIST, due="upcoming")
    for _n in range(12):
        make_task(
            enrolled(campus, homeroom), kind=TaskKind.INACTIVE, due_at=now + datetime.timedelta(days=2), facts=FIGURES
        )
    many = _list_queries(client, LIST, due="upcoming")
    assert len(client.get(LIST, {"due": "upcoming"}).context["cl"].result_list) == 13
    assert many == few
    # The session, the user, her staff row, her permissions (2), the tabs' counts, the teachers of
    # the filter, the page's count, its tasks, and their students, enrollments and teachers.
    with django_assert_max_num_queries(12):
        client.get(LIST, {"due": "upcoming"})


def test_the_visible_tasks_selector_enforces_the_reach(homeroom, colleague, campus):
    mine = make_task(enrolled(campus, homeroom))
    make_task(enrolled(campus, colleague))
    today = timezone.localdate()
    assert list(tasks_visible_to(user=homeroom.user, today=today)) == [mine]
