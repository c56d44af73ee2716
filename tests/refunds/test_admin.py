"""Operations edit refund policies in the admin; every change is a new version with history."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from refunds.models import QuoteSnapshot, RefundPolicy
from refunds.services import quote_snapshot_create, refund_quote

ADD_URL = reverse("admin:refunds_refundpolicy_add")
LIST_URL = reverse("admin:refunds_refundpolicy_changelist")


def change_url(policy: RefundPolicy) -> str:
    return reverse("admin:refunds_refundpolicy_change", args=[policy.pk])


def post_data(*, course, tiers=(), rules=(), existing: RefundPolicy | None = None, **fields) -> dict:
    """The admin's add/change form as a browser would send it."""
    data = {
        "name": "课程专属规则",
        "course_type": "",
        "course": str(course.pk),
        "is_active": "on",
        "mode": "rules",
        "description": "",
        "cooling_off_days": "",
        "cooling_off_anchor": "purchase",
        "cooling_off_progress_ceiling": "",
        "tier_anchor": "purchase",
        "consumption_basis": "per_lesson",
        "handling_fee_percent": "10",
        "materials_fee": "0",
        "materials_description": "",
        "notify_channels": ["inbox", "email"],
    }
    data.update(fields)
    old_tiers = list(existing.tiers.all()) if existing else []
    old_rules = list(existing.special_rules.all()) if existing else []
    data |= {
        "tiers-TOTAL_FORMS": str(len(tiers)),
        "tiers-INITIAL_FORMS": str(len(old_tiers)),
        "tiers-MIN_NUM_FORMS": "0",
        "tiers-MAX_NUM_FORMS": "1000",
        "special_rules-TOTAL_FORMS": str(len(rules)),
        "special_rules-INITIAL_FORMS": str(len(old_rules)),
        "special_rules-MIN_NUM_FORMS": "0",
        "special_rules-MAX_NUM_FORMS": "1000",
    }
    for i, (start, end, pct) in enumerate(tiers):
        data |= {
            f"tiers-{i}-from_day": str(start),
            f"tiers-{i}-to_day": "" if end is None else str(end),
            f"tiers-{i}-percent": str(pct),
        }
        if i < len(old_tiers):
            data |= {f"tiers-{i}-id": str(old_tiers[i].pk), f"tiers-{i}-policy": str(existing.pk)}
    for i, rule in enumerate(rules):
        data |= {f"special_rules-{i}-{key}": value for key, value in rule.items()}
        if i < len(old_rules):
            data |= {f"special_rules-{i}-id": str(old_rules[i].pk), f"special_rules-{i}-policy": str(existing.pk)}
    return data


SEED_TIERS = [(1, 7, 100), (8, 15, 80), (16, 30, 50), (31, None, 0)]
ILLNESS = {"reason": "illness", "evidence": "医院诊断证明", "percent": "100", "waive_handling_fee": "on"}


@pytest.fixture
def ops_client(client, operations):
    client.force_login(operations.user)
    return client


# --- Pages load -------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["superuser", "operations"])
def test_policy_pages_load(who, admin_client, ops_client):
    browser = admin_client if who == "superuser" else ops_client
    policy = RefundPolicy.objects.get(course_type="live", is_active=True)
    assert browser.get(LIST_URL).status_code == 200
    assert browser.get(ADD_URL).status_code == 200
    page = browser.get(change_url(policy))
    assert page.status_code == 200
    assert "tiers-TOTAL_FORMS" in page.content.decode()
    assert browser.get(reverse("admin:refunds_refundpolicy_history", args=[policy.pk])).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["superuser", "operations"])
def test_snapshot_pages_load_read_only(who, admin_client, ops_client, order):
    browser = admin_client if who == "superuser" else ops_client
    snapshot = quote_snapshot_create(quote=refund_quote(order=order, reason="time_conflict"))
    assert browser.get(reverse("admin:refunds_quotesnapshot_changelist")).status_code == 200
    page = browser.get(reverse("admin:refunds_quotesnapshot_change", args=[snapshot.pk]))
    assert page.status_code == 200
    assert str(snapshot.total) in page.content.decode()
    assert browser.get(reverse("admin:refunds_quotesnapshot_add")).status_code == 403


@pytest.mark.django_db
def test_other_staff_see_policies_but_cannot_edit_them(client, homeroom):
    client.force_login(homeroom.user)
    policy = RefundPolicy.objects.get(course_type="recorded", is_active=True)
    assert client.get(LIST_URL).status_code == 200
    assert client.get(ADD_URL).status_code == 403
    before = policy.version
    response = client.post(change_url(policy), {"name": "changed"})
    assert response.status_code == 403
    policy.refresh_from_db()
    assert policy.version == before


# --- Saving through the admin -----------------------------------------------------------------


@pytest.mark.django_db
def test_operations_add_a_course_policy_with_tiers_and_rules(ops_client, operations, course):
    response = ops_client.post(ADD_URL, post_data(course=course, tiers=SEED_TIERS, rules=[ILLNESS]))
    assert response.status_code == 302
    policy = RefundPolicy.objects.get(course=course)
    assert policy.version == 1
    assert [(t.from_day, t.to_day, t.percent) for t in policy.tiers.all()] == [
        (1, 7, Decimal("100.00")),
        (8, 15, Decimal("80.00")),
        (16, 30, Decimal("50.00")),
        (31, None, Decimal("0.00")),
    ]
    assert policy.special_rules.get().evidence == "医院诊断证明"
    assert policy.history.count() == 1
    assert policy.history.get().history_user == operations.user


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("tiers", "rules", "fields", "where"),
    [
        ([(1, 7, 100), (6, None, 0)], [], {}, ("tiers", 1, "from_day")),
        ([(1, 7, 100), (9, None, 0)], [], {}, ("tiers", 1, "from_day")),
        ([(1, 7, 120), (8, None, 0)], [], {}, ("tiers", 0, "percent")),
        ([], [{**ILLNESS, "evidence": ""}], {}, ("special_rules", 0, "evidence")),
        ([], [{**ILLNESS, "percent": "-1"}], {}, ("special_rules", 0, "percent")),
        ([], [], {"cooling_off_days": "7"}, ("policy", None, "cooling_off_progress_ceiling")),
        ([], [], {"materials_fee": "-1"}, ("policy", None, "materials_fee")),
        ([], [], {"handling_fee_percent": "101"}, ("policy", None, "handling_fee_percent")),
        ([], [], {"notify_channels": []}, ("policy", None, "notify_channels")),
    ],
)
def test_the_admin_shows_each_error_on_its_field_and_saves_nothing(ops_client, course, tiers, rules, fields, where):
    response = ops_client.post(ADD_URL, post_data(course=course, tiers=tiers, rules=rules, **fields))
    assert response.status_code == 200
    kind, index, field = where
    if kind == "policy":
        assert field in response.context["adminform"].form.errors
    else:
        formset = next(f.formset for f in response.context["inline_admin_formsets"] if f.formset.prefix == kind)
        assert field in formset.forms[index].errors
    assert not RefundPolicy.objects.filter(course=course).exists()


@pytest.mark.django_db
def test_every_admin_save_is_a_new_version_with_history(ops_client, course, order):
    ops_client.post(ADD_URL, post_data(course=course, tiers=SEED_TIERS, rules=[ILLNESS]))
    policy = RefundPolicy.objects.get(course=course)
    response = ops_client.post(
        change_url(policy),
        post_data(course=course, tiers=SEED_TIERS, rules=[ILLNESS], existing=policy, handling_fee_percent="5"),
    )
    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.version == 2
    assert policy.handling_fee_percent == Decimal("5.00")
    versions = list(policy.history.order_by("history_id").values_list("version", "handling_fee_percent"))
    assert versions == [(1, Decimal("10.00")), (2, Decimal("5.00"))]


@pytest.mark.django_db
def test_a_tier_change_alone_is_a_new_version(ops_client, course):
    ops_client.post(ADD_URL, post_data(course=course, tiers=SEED_TIERS))
    policy = RefundPolicy.objects.get(course=course)
    changed = [(1, 7, 100), (8, 15, 70), (16, 30, 50), (31, None, 0)]
    response = ops_client.post(change_url(policy), post_data(course=course, tiers=changed, existing=policy))
    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.version == 2
    assert policy.tiers.get(from_day=8).percent == Decimal("70.00")
    assert policy.tiers.get(from_day=8).history.count() == 2


@pytest.mark.django_db
def test_a_snapshot_survives_a_policy_change_in_the_admin(ops_client, student, homeroom, campus):
    from tests import factories

    course = factories.make_course(campus=campus, price="2000.00")
    order = factories.make_order(student=student, course=course, homeroom_teacher=homeroom)
    ops_client.post(ADD_URL, post_data(course=course, handling_fee_percent="10", consumption_basis="none"))
    snapshot = quote_snapshot_create(quote=refund_quote(order=order, reason="other"))
    policy = RefundPolicy.objects.get(course=course)
    ops_client.post(
        change_url(policy),
        post_data(course=course, existing=policy, handling_fee_percent="30", consumption_basis="none"),
    )
    assert refund_quote(order=order, reason="other").total == Decimal("1400.00")
    snapshot = QuoteSnapshot.objects.get(pk=snapshot.pk)
    assert (snapshot.total, snapshot.policy_version) == (Decimal("1800.00"), 1)
    assert snapshot.policy_terms["handling_fee_percent"] == "10.00"
    assert [line.amount for line in snapshot.lines.all()] == [Decimal("2000.00"), Decimal("-200.00")]


# --- Campus scoping ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_another_campus_sees_type_policies_but_not_this_campus_course_policy(client, course, other_campus_homeroom):
    from .helpers import make_policy

    own = make_policy(course=course, name="本校区课程专属规则")
    client.force_login(other_campus_homeroom.user)
    page = client.get(LIST_URL).content.decode()
    assert "本校区课程专属规则" not in page
    assert RefundPolicy.objects.get(course_type="live", is_active=True).name in page
    assert client.get(change_url(own)).status_code == 404
    assert client.get(reverse("admin:refunds_refundpolicy_history", args=[own.pk])).status_code == 404


@pytest.mark.django_db
def test_another_campus_cannot_see_a_snapshot(client, order, other_campus_homeroom, homeroom):
    snapshot = quote_snapshot_create(quote=refund_quote(order=order, reason="other"))
    client.force_login(other_campus_homeroom.user)
    assert order.order_no not in client.get(reverse("admin:refunds_quotesnapshot_changelist")).content.decode()
    assert client.get(reverse("admin:refunds_quotesnapshot_change", args=[snapshot.pk])).status_code == 404
    client.force_login(homeroom.user)
    assert client.get(reverse("admin:refunds_quotesnapshot_change", args=[snapshot.pk])).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("model", ["refundtier", "refundspecialrule", "quotesnapshotline"])
def test_the_inline_models_are_listed_read_only(ops_client, model):
    assert ops_client.get(reverse(f"admin:refunds_{model}_changelist")).status_code == 200
    assert ops_client.get(reverse(f"admin:refunds_{model}_add")).status_code == 403
