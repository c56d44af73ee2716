"""The approval settings page: operations edit every campus's, everyone else reads their own."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from refunds.models import ApprovalSettings
from refunds.selectors import approval_settings_for
from schoolops.models import StaffRole
from tests import factories

pytestmark = pytest.mark.django_db

LIST_URL = reverse("admin:refunds_approvalsettings_changelist")
ADD_URL = reverse("admin:refunds_approvalsettings_add")
SLA_TIERS = ("service", "homeroom", "quality", "supervisor", "campus_head", "finance")
# Roles without ``change_approvalsettings``: they read their campus's settings, nothing more.
READERS = [role for role in StaffRole.values if role != StaffRole.OPERATIONS]


def change_url(settings: ApprovalSettings) -> str:
    return reverse("admin:refunds_approvalsettings_change", args=[settings.pk])


def history_url(settings: ApprovalSettings) -> str:
    return reverse("admin:refunds_approvalsettings_history", args=[settings.pk])


def delete_url(settings: ApprovalSettings) -> str:
    return reverse("admin:refunds_approvalsettings_delete", args=[settings.pk])


def form(campus=None, **overrides) -> dict:
    """The settings form as a browser sends it; ``campus`` only on the add form."""
    data = {
        "small_below": "300.00",
        "large_above": "3000.00",
        "service_limit": "100.00",
        "auto_max_progress": "20",
        "auto_max_recent_refunds": "1",
        "risk_refunds_per_year": "3",
        "appeal_days": "5",
        "needs_info_days": "10",
        "exchange_head_above": "2000.00",
        **{f"sla_{tier}_hours": "24" for tier in SLA_TIERS},
    }
    if campus is not None:
        data["campus"] = str(campus.pk)
    return {**data, **overrides}


def shown_msgid(msgid: str, params: dict | None = None) -> str:
    """``msgid`` as a page in the default language shows it (the msgid itself until translated)."""
    with translation.override("zh-hans"):
        text = gettext(msgid)
    return text % params if params else text


def shown(errors) -> list[str]:
    """A field's error messages as the page showed them."""
    with translation.override("zh-hans"):
        return list(errors)


def snapshot(settings: ApprovalSettings) -> dict:
    settings.refresh_from_db()
    return {field.attname: getattr(settings, field.attname) for field in ApprovalSettings._meta.concrete_fields}


@pytest.fixture
def saved(campus):
    return ApprovalSettings.objects.create(campus=campus, large_above=Decimal("2500.00"))


@pytest.fixture
def foreign(other_campus):
    return ApprovalSettings.objects.create(campus=other_campus, large_above=Decimal("4000.00"))


@pytest.fixture
def ops(client, operations):
    client.force_login(operations.user)
    return client


def staff_client(client, campus, role):
    client.force_login(factories.make_staff(role=role, campus=campus).user)
    return client


# --- Operations ---------------------------------------------------------------------------------


def test_operations_change_thresholds_limits_deadlines_and_hours(ops, saved):
    data = form(
        small_below="400.00", service_limit="150.00", appeal_days="9", needs_info_days="20", sla_finance_hours="8"
    )
    response = ops.post(change_url(saved), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    saved.refresh_from_db()
    assert (saved.small_below, saved.large_above, saved.service_limit) == (Decimal("400"), Decimal("3000"), 150)
    assert (saved.appeal_days, saved.needs_info_days, saved.sla_hours("finance")) == (9, 20, 8)


def test_operations_edit_another_campus_too(ops, foreign):
    assert ops.post(change_url(foreign), form(large_above="5000.00")).status_code == 302
    foreign.refresh_from_db()
    assert foreign.large_above == 5000


def test_the_new_settings_route_the_next_request(ops, saved, campus):
    ops.post(change_url(saved), form(small_below="800.00", large_above="900.00", service_limit="100.00"))
    assert approval_settings_for(campus=campus).small_below == 800


def test_the_campus_of_saved_settings_is_read_only(ops, saved, other_campus):
    ops.post(change_url(saved), form(campus=other_campus))
    saved.refresh_from_db()
    assert saved.campus_id != other_campus.pk
    assert "campus" not in ops.get(change_url(saved)).context["adminform"].form.fields


def test_each_save_is_in_the_history_with_who_and_what(ops, saved, operations):
    ops.post(change_url(saved), form(large_above="3500.00"))
    record = saved.history.order_by("-history_date", "-history_id").first()
    assert record.history_user_id == operations.user_id
    assert record.large_above == Decimal("3500.00")
    assert ops.get(history_url(saved)).status_code == 200
    recent = ops.get(change_url(saved)).content.decode()
    assert "3500.00" in recent and "2500.00" in recent  # old → new in the recent changes


# --- A campus on the defaults ---------------------------------------------------------------


def test_a_campus_without_settings_is_listed_with_the_defaults_and_an_add_link(ops, campus, foreign):
    response = ops.get(LIST_URL)
    assert response.context["campuses_on_defaults"] == [campus]
    page = response.content.decode()
    assert f"{ADD_URL}?campus={campus.pk}" in page
    assert "2000.00" in page  # the default large threshold, shown for the campus


def test_the_add_link_fills_in_the_campus_and_the_defaults(ops, campus):
    form_ = ops.get(ADD_URL, {"campus": campus.pk}).context["adminform"].form
    assert str(form_.initial["campus"]) == str(campus.pk)
    assert form_["large_above"].value() == ApprovalSettings().large_above


def test_operations_add_settings_for_a_campus_on_the_defaults(ops, campus):
    assert ops.post(ADD_URL, form(campus)).status_code == 302
    assert ApprovalSettings.objects.get(campus=campus).small_below == 300


def test_the_add_form_offers_only_campuses_still_on_the_defaults(ops, saved, other_campus):
    choices = ops.get(ADD_URL).context["adminform"].form.fields["campus"].queryset
    assert list(choices) == [other_campus]


def test_a_second_row_for_a_campus_is_refused(ops, saved, campus):
    response = ops.post(ADD_URL, form(campus))
    assert response.status_code == 200
    assert "campus" in response.context["adminform"].form.errors
    assert ApprovalSettings.objects.count() == 1


def test_opening_the_pages_creates_nothing(ops, campus):
    ops.get(LIST_URL)
    ops.get(ADD_URL, {"campus": campus.pk})
    assert not ApprovalSettings.objects.exists()


# --- Validation: which field, and why -----------------------------------------------------------


SERVICE_LIMIT_TOO_HIGH = (
    "Customer service would approve alone refunds the campus head must approve; "
    "keep the limit at or below the large-refund threshold (%(large)s)."
)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"small_below": "3000.00", "large_above": "300.00"},
            "large_above",
            "The large threshold cannot be below the small one.",
        ),
        ({"sla_supervisor_hours": "0"}, "sla_supervisor_hours", "Give at least one hour."),
        ({"sla_finance_hours": "-3"}, "sla_finance_hours", "Give at least one hour."),
        ({"service_limit": "5000.00"}, "service_limit", (SERVICE_LIMIT_TOO_HIGH, {"large": "3000.00"})),
        ({"small_below": "-1"}, "small_below", None),
        ({"auto_max_progress": "101"}, "auto_max_progress", None),
        ({"appeal_days": "seven"}, "appeal_days", None),
    ],
    ids=["thresholds-reversed", "zero-hours", "negative-hours", "service-above-large", "negative", "over-100", "nan"],
)
def test_a_wrong_value_is_refused_on_its_field_with_the_reason(ops, saved, changes, field, message):
    before = snapshot(saved)
    response = ops.post(change_url(saved), form(**changes))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == [field]
    if message is not None:
        msgid, params = message if isinstance(message, tuple) else (message, None)
        assert shown(errors[field]) == [shown_msgid(msgid, params)]
    assert snapshot(saved) == before


def test_every_wrong_hour_gets_its_own_error(ops, saved):
    response = ops.post(change_url(saved), form(sla_homeroom_hours="0", sla_quality_hours="0"))
    assert set(response.context["adminform"].form.errors) == {"sla_homeroom_hours", "sla_quality_hours"}


# --- Every other role: their own campus, read-only ---------------------------------------------


@pytest.mark.parametrize("role", READERS)
def test_other_roles_read_their_campus_settings_without_a_save_button(client, campus, saved, foreign, role):
    client = staff_client(client, campus, role)
    listed = client.get(LIST_URL)
    assert listed.status_code == 200
    assert list(listed.context["cl"].result_list) == [saved]
    page = client.get(change_url(saved))
    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    assert 'name="_save"' not in page.content.decode()
    assert client.get(history_url(saved)).status_code == 200


@pytest.mark.parametrize("role", READERS)
def test_other_roles_cannot_change_add_or_delete(client, campus, saved, role):
    client = staff_client(client, campus, role)
    before = snapshot(saved)
    assert client.post(change_url(saved), form(large_above="9999.00")).status_code == 403
    assert client.get(ADD_URL).status_code == 403
    assert client.post(ADD_URL, form(campus)).status_code == 403
    assert client.post(delete_url(saved), {"post": "yes"}).status_code == 403
    assert snapshot(saved) == before


@pytest.mark.parametrize("role", READERS)
def test_other_roles_see_their_campus_on_the_defaults_without_an_add_link(client, campus, other_campus, role):
    client = staff_client(client, campus, role)
    response = client.get(LIST_URL)
    assert response.context["campuses_on_defaults"] == [campus]  # not the other campus
    assert f"{ADD_URL}?campus=" not in response.content.decode()


def test_operations_cannot_delete_settings(ops, saved):
    assert ops.post(delete_url(saved), {"post": "yes"}).status_code == 403
    assert ApprovalSettings.objects.filter(pk=saved.pk).exists()


# --- Another campus, outsiders ------------------------------------------------------------------


@pytest.mark.parametrize("view", ["change", "history"])
def test_staff_of_another_campus_get_404_and_change_nothing(client, saved, other_campus_homeroom, view):
    client.force_login(other_campus_homeroom.user)
    url = change_url(saved) if view == "change" else history_url(saved)
    before = snapshot(saved)
    assert client.get(url).status_code == 404
    assert client.post(url, form(large_above="9999.00")).status_code in (403, 404)
    assert snapshot(saved) == before
    assert saved.campus.name not in client.get(LIST_URL).content.decode()


def test_a_campus_head_given_the_change_permission_still_reaches_only_their_campus(client, campus, saved, foreign):
    from django.contrib.auth.models import Permission

    head = factories.make_staff(role=StaffRole.CAMPUS_HEAD, campus=campus)
    head.user.user_permissions.add(Permission.objects.get(codename="change_approvalsettings"))
    client.force_login(head.user)
    before = snapshot(foreign)
    assert client.post(change_url(foreign), form(large_above="9999.00")).status_code == 404
    assert snapshot(foreign) == before
    assert client.post(change_url(saved), form(large_above="2600.00")).status_code == 302


def test_someone_who_is_not_staff_is_sent_to_the_login_page(client, outsider, saved):
    client.force_login(outsider)
    before = snapshot(saved)
    for url in (LIST_URL, change_url(saved), ADD_URL):
        response = client.get(url)
        assert response.status_code == 302
        assert reverse("admin:login") in response["Location"]
    assert client.post(change_url(saved), form(large_above="9999.00")).status_code == 302
    assert snapshot(saved) == before


def test_an_admin_account_without_permissions_gets_403(client, saved):
    client.force_login(factories.make_user(is_staff=True))
    before = snapshot(saved)
    assert client.get(LIST_URL).status_code == 403
    assert client.get(change_url(saved)).status_code == 403
    assert client.post(change_url(saved), form(large_above="9999.00")).status_code == 403
    assert snapshot(saved) == before
