"""The script library and the campus service settings in the admin, the placeholders' check and
rendering, and what each role may do with them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from schoolops.models import StaffRole
from schoolops.roles import ROLE_PERMISSIONS
from service.models import Script, ScriptScenario, ServiceSettings
from service.scripts import PLACEHOLDERS, SAMPLE, score_sentence, script_problems, script_render, script_sample
from tests import factories
from tests.refunds.helpers import zh

from .conftest import logged_in

pytestmark = pytest.mark.django_db

LIBRARY = reverse("admin:service_script_changelist")
SETTINGS = reverse("admin:service_servicesettings_changelist")


def edit(script) -> str:
    return reverse("admin:service_script_change", args=[script.pk])


def form_data(script: Script, **changes) -> dict:
    data = {
        "scenario": script.scenario,
        "title": script.title,
        "key_points": script.key_points,
        "cautions": script.cautions,
        "body": script.body,
        "position": script.position,
    }
    if script.active:
        data["active"] = "on"
    data.update(changes)
    return data


# --- The placeholders -----------------------------------------------------------------------------


def test_every_seeded_script_passes_the_check():
    scripts = Script.objects.all()
    assert {s.scenario for s in scripts} == set(ScriptScenario.values)
    assert {s.title: script_problems(s.body) for s in scripts} == {s.title: [] for s in scripts}


def test_an_unknown_placeholder_is_named_with_the_allowed_ones():
    problems = script_problems("{{ student_name }}您好，您的积分是 {{ points }}，{{ coupon }}")
    assert len(problems) == 1
    assert "coupon, points" in problems[0]
    assert all(name in problems[0] for name in PLACEHOLDERS)


def test_tags_other_than_if_are_refused():
    assert script_problems("{% load static %}{{ student_name }}")
    assert script_problems("{% for x in course %}{{ x }}{% endfor %}")
    assert script_problems("{% if score_sentence %}{{ score_sentence }}{% endif %}好") == []


def test_a_script_renders_with_the_values_and_reads_a_missing_one_as_nothing():
    text = script_render(
        "{{ student_name }}您好，完成了 {{ completion }}%，{{ score_sentence }}继续加油",
        {
            "student_name": "王小明",
            "completion": "45",
        },
    )
    assert text == "王小明您好，完成了 45%，继续加油"


def test_the_score_sentence_is_a_clause_or_nothing():
    clause = zh("Average test score %(score)s,")
    assert score_sentence({"tests_taken": 2, "test_score_avg": "82.00"}) == clause % {"score": "82"}
    assert score_sentence({"tests_taken": 1, "test_score_avg": "82.50"}) == clause % {"score": "82.5"}
    assert score_sentence({"tests_taken": 1, "test_score_avg": "80.00"}) == clause % {"score": "80"}
    assert score_sentence({"tests_taken": 0, "test_score_avg": ""}) == ""


def test_the_sample_fills_every_placeholder():
    body = "".join(f"{{{{ {name} }}}}|" for name in PLACEHOLDERS)
    assert script_sample(body) == "|".join(SAMPLE[name] for name in PLACEHOLDERS) + "|"


# --- The library in the admin --------------------------------------------------------------------


def test_operations_edit_a_script_and_see_the_preview(client, operations):
    script = Script.objects.get(scenario=ScriptScenario.INACTIVE)
    client = logged_in(client, operations)
    body = "{{ student_name }}您好，{{ days_inactive }} 天没见您上课了。"
    response = client.post(edit(script), form_data(script, body=body, _continue="1"))
    assert response.status_code == 302
    script.refresh_from_db()
    assert script.body == body
    html = client.get(edit(script)).content.decode()
    assert "王小明您好，8 天没见您上课了。" in html  # the preview, with sample data
    assert "{{ referral_code }}" in html  # the placeholders listed


def test_a_script_with_an_unknown_placeholder_is_not_saved(client, operations):
    script = Script.objects.get(scenario=ScriptScenario.RENEWAL)
    before = script.body
    response = logged_in(client, operations).post(
        edit(script), form_data(script, body="{{ student_name }}，优惠码 {{ coupon }}")
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["body"]
    assert "coupon" in errors[0]
    script.refresh_from_db()
    assert script.body == before


def test_operations_add_a_script(client, operations):
    response = logged_in(client, operations).post(
        reverse("admin:service_script_add"),
        {
            "scenario": "complaint",
            "title": "投诉升级",
            "key_points": "道歉+升级",
            "body": "{{ student_name }}您好",
            "active": "on",
            "position": "2",
        },
    )
    assert response.status_code == 302
    assert Script.objects.filter(title="投诉升级", scenario="complaint").exists()


def test_the_library_lists_by_scenario_in_the_journeys_order(client, operations):
    rows = logged_in(client, operations).get(LIBRARY).context["cl"].result_list
    order = [row.scenario for row in rows]
    assert order[0] == ScriptScenario.FIRST_CONTACT and order[-1] == ScriptScenario.REFERRAL
    assert order.index(ScriptScenario.INACTIVE) < order.index(ScriptScenario.RENEWAL)


def test_a_homeroom_teacher_reads_the_library_but_cannot_edit_it(client, homeroom):
    script = Script.objects.get(scenario=ScriptScenario.FIRST_CONTACT)
    client = logged_in(client, homeroom)
    assert client.get(LIBRARY).status_code == 200
    response = client.post(edit(script), form_data(script, title="改掉"))
    assert response.status_code == 403
    script.refresh_from_db()
    assert script.title == "首次联系学员"


# --- Service settings ------------------------------------------------------------------------------


def _settings_data(campus, **changes) -> dict:
    defaults = ServiceSettings()
    data = {
        "campus": campus.pk,
        "first_contact_hours": defaults.first_contact_hours,
        "reminder_minutes": defaults.reminder_minutes,
        "feedback_after_minutes": defaults.feedback_after_minutes,
        "inactive_days": defaults.inactive_days,
        "follow_up_days": defaults.follow_up_days,
        "task_days": defaults.task_days,
        "low_score": defaults.low_score,
        "behind_points": defaults.behind_points,
        "renewal_lead_days": defaults.renewal_lead_days,
        "referrer_reward": defaults.referrer_reward,
        "referee_reward": defaults.referee_reward,
        "escalate_after_hours": defaults.escalate_after_hours,
    }
    data.update(changes)
    return data


def test_a_campus_head_adds_her_campus_settings_and_not_another_campus(client, campus_head, campus, other_campus):
    client = logged_in(client, campus_head)
    listing = client.get(SETTINGS)
    assert [c.pk for c in listing.context["campuses_on_defaults"]] == [campus.pk]
    add = reverse("admin:service_servicesettings_add")
    assert client.post(add, _settings_data(other_campus, inactive_days=5)).status_code == 200  # not a choice
    assert not ServiceSettings.objects.filter(campus=other_campus).exists()
    assert client.post(add, _settings_data(campus, inactive_days=5)).status_code == 302
    assert ServiceSettings.objects.get(campus=campus).inactive_days == 5


def test_operations_edit_any_campus_and_a_supervisor_only_reads(client, operations, supervisor, other_campus):
    settings = ServiceSettings.objects.create(campus=other_campus, inactive_days=9)
    url = reverse("admin:service_servicesettings_change", args=[settings.pk])
    response = logged_in(client, operations).post(
        url, _settings_data(other_campus, inactive_days=6, referrer_reward="300.00")
    )
    assert response.status_code == 302
    settings.refresh_from_db()
    assert (settings.inactive_days, settings.referrer_reward) == (6, Decimal("300.00"))
    assert logged_in(client, supervisor).get(url).status_code == 404  # another campus
    own = ServiceSettings.objects.create(campus=supervisor.campus)
    own_url = reverse("admin:service_servicesettings_change", args=[own.pk])
    assert client.get(own_url).status_code == 200
    assert client.post(own_url, _settings_data(supervisor.campus, inactive_days=3)).status_code == 403


# --- The roles ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "holds", "lacks"),
    [
        (
            StaffRole.HOMEROOM,
            ["service.change_servicetask", "service.add_contactlog", "service.view_script"],
            ["service.change_script", "service.view_servicesettings"],
        ),
        (
            StaffRole.SUPERVISOR,
            ["service.change_servicetask", "service.view_servicesettings"],
            ["service.change_servicesettings"],
        ),
        (
            StaffRole.CAMPUS_HEAD,
            ["service.change_servicetask", "service.change_servicesettings"],
            ["service.change_script"],
        ),
        (
            StaffRole.OPERATIONS,
            ["service.change_script", "service.change_servicesettings", "service.view_servicetask"],
            ["service.change_servicetask", "service.add_contactlog"],
        ),
        (StaffRole.SERVICE, ["service.view_contactlog"], ["service.add_contactlog", "service.view_servicetask"]),
        (StaffRole.FINANCE, [], ["service.view_servicetask", "service.view_contactlog"]),
    ],
)
def test_each_role_holds_its_service_permissions(campus, role, holds, lacks):
    user = factories.make_staff(role=role, campus=campus).user
    assert all(user.has_perm(p) for p in holds), [p for p in holds if not user.has_perm(p)]
    assert not any(user.has_perm(p) for p in lacks), [p for p in lacks if user.has_perm(p)]
    assert set(holds) <= set(ROLE_PERMISSIONS[role])
