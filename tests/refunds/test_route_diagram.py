"""The approval route diagram on the approval settings page: bands and tiers as the routing code
gives them for the settings being edited, redrawn for typed thresholds."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from refunds.admin.route_diagram import route_scenarios
from refunds.models import ApprovalSettings
from refunds.routing import route_for
from schoolops.models import StaffRole
from tests import factories

ROUTES_URL = reverse("admin:refunds_approvalsettings_routes")


def table(small: str, large: str, head: str = "2000") -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    return {
        scenario.key: [(band.label, band.route) for band in scenario.bands]
        for scenario in route_scenarios(
            small_below=Decimal(small), large_above=Decimal(large), exchange_head_above=Decimal(head)
        )
    }


def test_default_thresholds_give_the_three_refund_bands_of_the_sop():
    routes = table("500", "2000")
    assert routes["refund"] == [
        ("< ¥500", ("homeroom", "auto")),
        ("¥500 – ¥2,000", ("homeroom", "supervisor", "finance")),
        ("> ¥2,000", ("homeroom", "supervisor", "campus_head", "finance")),
    ]


def test_edited_thresholds_move_the_bands():
    routes = table("1000", "5000", head="800.50")
    assert [label for label, _route in routes["refund"]] == ["< ¥1,000", "¥1,000 – ¥5,000", "> ¥5,000"]
    assert routes["exchange"] == [
        ("≤ ¥800.50", ("service", "supervisor")),
        ("> ¥800.50", ("service", "supervisor", "campus_head")),
    ]


def test_a_person_reviewed_refund_never_takes_the_automatic_check():
    routes = table("500", "2000")
    assert routes["refund-person"] == [
        ("≤ ¥2,000", ("homeroom", "supervisor", "finance")),
        ("> ¥2,000", ("homeroom", "supervisor", "campus_head", "finance")),
    ]
    assert all(route[0] == "quality" for _label, route in routes["refund-quality"])


def test_equal_thresholds_leave_a_band_of_one_amount():
    routes = table("1000", "1000")
    assert routes["refund"] == [
        ("< ¥1,000", ("homeroom", "auto")),
        ("¥1,000", ("homeroom", "supervisor", "finance")),
        ("> ¥1,000", ("homeroom", "supervisor", "campus_head", "finance")),
    ]


def test_a_zero_small_threshold_has_no_automatic_band():
    routes = table("0", "2000")
    assert routes["refund"][0] == ("≤ ¥2,000", ("homeroom", "supervisor", "finance"))
    assert all("auto" not in route for _label, route in routes["refund"])


@pytest.mark.parametrize("amount", ["0.01", "499.99", "500", "1234.56", "2000", "2000.01", "99999"])
def test_every_amount_takes_the_route_of_its_band(amount):
    """The diagram and the routing agree on amounts around and between the thresholds."""
    value = Decimal(amount)
    scenario = route_scenarios(
        small_below=Decimal("500"), large_above=Decimal("2000"), exchange_head_above=Decimal("2000")
    )[0]

    def contains(band) -> bool:
        low, high = band.lower, band.upper
        above = low is None or value > low.amount or (low.included and value == low.amount)
        below = high is None or value < high.amount or (high.included and value == high.amount)
        return above and below

    (band,) = [band for band in scenario.bands if contains(band)]
    expected = route_for(
        amount=value,
        reason="time_conflict",
        small_below=Decimal("500"),
        large_above=Decimal("2000"),
        needs_person=False,
    )
    assert list(band.route) == expected


# --- The page -----------------------------------------------------------------------------------


def bands_on(page: str, scenario: str) -> list[tuple[str, list[str]]]:
    section = re.search(rf'data-scenario="{scenario}">(.*?)</section>', page, re.S)
    assert section is not None
    bands = re.findall(
        r'<span class="route-amount">(.*?)</span>\s*<ol class="route-steps">(.*?)</ol>', section[1], re.S
    )
    return [(label, re.findall(r'data-tier="(\w+)"', steps)) for label, steps in bands]


@pytest.mark.django_db
def test_the_change_page_draws_the_saved_settings_routes(client, campus, operations):
    settings = ApprovalSettings.objects.create(
        campus=campus, small_below=Decimal("1000"), large_above=Decimal("5000"), exchange_head_above=Decimal("3000")
    )
    client.force_login(operations.user)
    page = client.get(reverse("admin:refunds_approvalsettings_change", args=[settings.pk])).content.decode()
    assert bands_on(page, "refund") == [
        ("&lt; ¥1,000", ["homeroom", "auto"]),
        ("¥1,000 – ¥5,000", ["homeroom", "supervisor", "finance"]),
        ("&gt; ¥5,000", ["homeroom", "supervisor", "campus_head", "finance"]),
    ]
    assert bands_on(page, "exchange") == [
        ("≤ ¥3,000", ["service", "supervisor"]),
        ("&gt; ¥3,000", ["service", "supervisor", "campus_head"]),
    ]
    assert f'data-url="{ROUTES_URL}"' in page
    assert "ops/routes.js" in page
    assert " style=" not in page.split('id="route-diagram"', 1)[1].split("</fieldset>", 1)[0]


@pytest.mark.django_db
def test_a_reader_sees_the_diagram_of_her_campus_settings(client, campus):
    ApprovalSettings.objects.create(campus=campus, small_below=Decimal("800"))
    teacher = factories.make_staff(role=StaffRole.HOMEROOM, campus=campus)
    client.force_login(teacher.user)
    settings = ApprovalSettings.objects.get(campus=campus)
    page = client.get(reverse("admin:refunds_approvalsettings_change", args=[settings.pk])).content.decode()
    assert bands_on(page, "refund")[0] == ("&lt; ¥800", ["homeroom", "auto"])


@pytest.mark.django_db
def test_the_routes_endpoint_draws_typed_thresholds(client, operations):
    client.force_login(operations.user)
    answer = client.get(ROUTES_URL, {"small_below": "300", "large_above": "8,000", "exchange_head_above": "100"})
    assert answer.status_code == 200
    html = answer.json()["html"]
    assert bands_on(html, "refund")[0] == ("&lt; ¥300", ["homeroom", "auto"])
    assert bands_on(html, "refund")[2] == ("&gt; ¥8,000", ["homeroom", "supervisor", "campus_head", "finance"])
    assert bands_on(html, "exchange")[1][0] == "&gt; ¥100"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        {"small_below": "abc", "large_above": "1", "exchange_head_above": "1"},
        {"small_below": "-5", "large_above": "1", "exchange_head_above": "1"},
        {"small_below": "3000", "large_above": "1000", "exchange_head_above": "1"},
        {"small_below": "NaN", "large_above": "1000", "exchange_head_above": "1"},
    ],
)
def test_the_routes_endpoint_refuses_amounts_that_draw_nothing(client, operations, query):
    client.force_login(operations.user)
    answer = client.get(ROUTES_URL, query)
    assert answer.status_code == 200
    assert answer.json()["error"]
    assert "html" not in answer.json()


@pytest.mark.django_db
def test_the_routes_endpoint_is_for_staff_who_read_the_settings(client, outsider, student):
    assert client.get(ROUTES_URL).status_code == 302  # not logged in: to the admin's login
    outsider.is_staff = True
    outsider.save()
    client.force_login(outsider)
    assert client.get(ROUTES_URL).status_code == 403
