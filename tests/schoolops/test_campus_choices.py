"""Campus choices in the admin: staff of one campus are offered, and may choose, only their campus
(one rule, ``schoolops.scoping.limit_campus_choices`` / ``CampusListFilter``); head office
(``schoolops.view_all_campuses``, granted to a person, and superusers) is offered every campus; operations
of one campus, without the grant, are offered their own."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from analytics.models import AlertRule
from refunds.models import ApprovalSettings
from schoolops.models import StaffRole
from service.models import ServiceSettings
from servicedesk.models import DeskSettings
from tests import factories

pytestmark = pytest.mark.django_db

REFUSAL = "You can only choose a campus you work for; that campus is not one of yours."


def refusal_shown() -> str:
    with translation.override("zh-hans"):
        return gettext(REFUSAL)


def editor_of(campus, *perms: str):
    """Staff of one campus (no ``view_all_campuses``) given ``perms`` ("app.codename") on top of their role."""
    staff = factories.make_staff(role=StaffRole.SUPERVISOR, campus=campus)
    for dotted in perms:
        app_label, codename = dotted.split(".")
        staff.user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return staff.user


def offered(response) -> set[int]:
    return {campus.pk for campus in response.context["adminform"].form.fields["campus"].queryset}


# (add URL name, the permissions to add one, the model, valid data apart from the campus)
ADD_FORMS = [
    pytest.param(
        "admin:refunds_approvalsettings_add",
        ("refunds.view_approvalsettings", "refunds.add_approvalsettings"),
        ApprovalSettings,
        id="approval-settings",
    ),
    pytest.param(
        "admin:service_servicesettings_add",
        ("service.view_servicesettings", "service.add_servicesettings"),
        ServiceSettings,
        id="service-settings",
    ),
    pytest.param(
        "admin:servicedesk_desksettings_add",
        ("servicedesk.view_desksettings", "servicedesk.add_desksettings"),
        DeskSettings,
        id="desk-settings",
    ),
    pytest.param(
        "admin:analytics_alertrule_add",
        ("analytics.view_alertrule", "analytics.add_alertrule"),
        AlertRule,
        id="alert-rules",
    ),
]


@pytest.mark.parametrize(("url_name", "perms", "model"), ADD_FORMS)
def test_staff_of_one_campus_are_offered_only_their_campus(client, campus, other_campus, url_name, perms, model):
    client.force_login(editor_of(campus, *perms))
    response = client.get(reverse(url_name))
    assert response.status_code == 200
    assert offered(response) == {campus.pk}
    assert other_campus.name not in response.content.decode()


@pytest.mark.parametrize(("url_name", "perms", "model"), ADD_FORMS)
def test_a_forged_post_with_another_campus_is_refused_at_the_campus_field(
    client, campus, other_campus, url_name, perms, model
):
    client.force_login(editor_of(campus, *perms))
    response = client.post(reverse(url_name), {"campus": str(other_campus.pk)})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["campus"] == [refusal_shown()]
    assert refusal_shown() in response.content.decode()
    assert not model.objects.filter(campus=other_campus).exists()


@pytest.mark.parametrize(("url_name", "perms", "model"), ADD_FORMS)
def test_head_office_is_offered_every_campus(client, campus, other_campus, operations, url_name, perms, model):
    client.force_login(operations.user)
    response = client.get(reverse(url_name))
    assert offered(response) >= {campus.pk, other_campus.pk}


def test_a_forged_approval_settings_post_saves_nothing_for_another_campus(client, campus, other_campus):
    """A complete, otherwise valid form: only the campus is wrong, and nothing is saved."""
    client.force_login(editor_of(campus, "refunds.view_approvalsettings", "refunds.add_approvalsettings"))
    data = {
        "campus": str(other_campus.pk),
        "small_below": "300.00",
        "large_above": "3000.00",
        "service_limit": "100.00",
        "auto_max_progress": "20",
        "auto_max_recent_refunds": "1",
        "risk_refunds_per_year": "3",
        "appeal_days": "5",
        "needs_info_days": "10",
        "exchange_head_above": "2000.00",
        **{
            f"sla_{tier}_hours": "24"
            for tier in ("service", "homeroom", "quality", "supervisor", "campus_head", "finance")
        },
    }
    response = client.post(reverse("admin:refunds_approvalsettings_add"), data)
    assert list(response.context["adminform"].form.errors) == ["campus"]
    assert not ApprovalSettings.objects.exists()
    # The same form for her own campus is saved.
    response = client.post(reverse("admin:refunds_approvalsettings_add"), {**data, "campus": str(campus.pk)})
    assert response.status_code == 302
    assert ApprovalSettings.objects.filter(campus=campus).exists()


def test_the_staff_list_filter_offers_staff_of_one_campus_no_other_campus(client, campus, other_campus, homeroom):
    factories.make_staff(role=StaffRole.HOMEROOM, campus=other_campus)
    client.force_login(homeroom.user)
    response = client.get(reverse("admin:schoolops_staff_changelist"))
    assert response.status_code == 200
    page = response.content.decode()
    assert other_campus.name not in page
    assert f"campus__id__exact={other_campus.pk}" not in page


def test_the_staff_list_filter_offers_head_office_every_campus(client, campus, other_campus, operations):
    factories.make_staff(role=StaffRole.HOMEROOM, campus=other_campus)
    client.force_login(operations.user)
    page = client.get(reverse("admin:schoolops_staff_changelist")).content.decode()
    assert f"campus__id__exact={other_campus.pk}" in page
    assert f"campus__id__exact={campus.pk}" in page


def test_the_robot_list_filter_offers_staff_of_one_campus_no_other_campus(client, campus, other_campus):
    client.force_login(editor_of(campus, "notifications.view_staffwebhook"))
    response = client.get(reverse("admin:notifications_staffwebhook_changelist"))
    assert response.status_code == 200
    assert f"campus__id__exact={other_campus.pk}" not in response.content.decode()


@pytest.mark.parametrize(
    "url_name",
    [
        "admin:refunds_approvalsettings_add",
        "admin:service_servicesettings_add",
        "admin:servicedesk_desksettings_add",
        "admin:analytics_alertrule_add",
    ],
)
def test_operations_of_one_campus_are_offered_only_their_campus(
    client, campus, other_campus, campus_operations, url_name
):
    client.force_login(campus_operations.user)
    response = client.get(reverse(url_name))
    assert response.status_code == 200
    assert offered(response) == {campus.pk}


def test_operations_of_one_campus_cannot_open_another_campus_settings(client, campus, other_campus, campus_operations):
    foreign = ApprovalSettings.objects.create(campus=other_campus)
    client.force_login(campus_operations.user)
    assert client.get(reverse("admin:refunds_approvalsettings_change", args=[foreign.pk])).status_code == 404
