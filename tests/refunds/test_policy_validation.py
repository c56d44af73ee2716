"""Bad policy input is refused with a clear error on the right field, and nothing is saved."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.forms.models import inlineformset_factory

from refunds.forms import RefundPolicyForm, RefundTierInlineFormSet
from refunds.models import RefundPolicy, RefundSpecialRule, RefundTier, tier_set_errors

from .helpers import make_policy

D = Decimal


def policy(**fields) -> RefundPolicy:
    values = {"name": "测试规则", "course_type": "recorded", "notify_channels": ["inbox"]}
    values.update(fields)
    return RefundPolicy(**values)


def errors_of(instance) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as exc:
        instance.full_clean()
    return exc.value.message_dict


# --- Model validation (full_clean) ------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"handling_fee_percent": D("100.01")}, "handling_fee_percent"),
        ({"handling_fee_percent": D("-1")}, "handling_fee_percent"),
        ({"materials_fee": D("-0.01")}, "materials_fee"),
        ({"cooling_off_days": 7}, "cooling_off_progress_ceiling"),
        ({"cooling_off_progress_ceiling": D("20")}, "cooling_off_days"),
        ({"cooling_off_days": 7, "cooling_off_progress_ceiling": D("120")}, "cooling_off_progress_ceiling"),
        ({"notify_channels": []}, "notify_channels"),
        ({"notify_channels": ["inbox", "pigeon"]}, "notify_channels"),
    ],
)
def test_a_bad_policy_value_is_refused_on_its_field(fields, field, course):
    instance = policy(course_type="", course=course, **fields)
    errors = errors_of(instance)
    assert list(errors) == [field]
    assert not RefundPolicy.objects.filter(course=course).exists()


@pytest.mark.django_db
def test_a_cooling_off_window_without_ceiling_explains_what_is_missing():
    errors = errors_of(policy(course_type="", course=None, cooling_off_days=7))
    assert "progress ceiling" in errors["cooling_off_progress_ceiling"][0]


@pytest.mark.django_db
def test_a_policy_needs_a_course_type_or_a_course_but_not_both(course):
    assert "course_type" in errors_of(policy(course_type=""))
    assert "course_type" in errors_of(policy(course_type="live", course=course))


@pytest.mark.django_db
def test_a_second_active_policy_for_a_scope_is_refused(course):
    assert list(errors_of(policy(course_type="recorded"))) == ["course_type"]  # the seeded default exists
    make_policy(course=course)
    assert list(errors_of(policy(course_type="", course=course))) == ["course"]
    policy(course_type="recorded", is_active=False).full_clean()  # an inactive draft is fine


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"from_day": 1, "to_day": 7, "percent": D("100.5")}, "percent"),
        ({"from_day": 1, "to_day": 7, "percent": D("-5")}, "percent"),
        ({"from_day": 8, "to_day": 7, "percent": D("50")}, "to_day"),
    ],
)
def test_a_bad_tier_is_refused_on_its_field(fields, field, course):
    owner = make_policy(course=course)
    errors = errors_of(RefundTier(policy=owner, **fields))
    assert list(errors) == [field]
    assert not owner.tiers.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("evidence", ["", "   "])
def test_a_special_rule_without_evidence_is_refused(evidence, course):
    owner = make_policy(course=course)
    errors = errors_of(RefundSpecialRule(policy=owner, reason="illness", evidence=evidence))
    assert list(errors) == ["evidence"]
    assert "evidence" in errors["evidence"][0]
    assert not owner.special_rules.exists()


@pytest.mark.django_db
def test_a_special_rule_percentage_outside_0_100_is_refused(course):
    owner = make_policy(course=course)
    errors = errors_of(RefundSpecialRule(policy=owner, reason="illness", evidence="证明", percent=D("101")))
    assert list(errors) == ["percent"]


@pytest.mark.django_db
def test_a_policy_checks_a_whole_tier_set(course):
    owner = make_policy(course=course)
    good = [
        RefundTier(policy=owner, from_day=1, to_day=7, percent=D("100")),
        RefundTier(policy=owner, from_day=8, percent=D("0")),
    ]
    RefundPolicy.validate_tiers(good)
    bad = [
        RefundTier(policy=owner, from_day=1, to_day=7, percent=D("100")),
        RefundTier(policy=owner, from_day=5, percent=D("0")),
    ]
    with pytest.raises(ValidationError) as exc:
        RefundPolicy.validate_tiers(bad)
    assert "Overlaps" in exc.value.message_dict["tiers"][0]


# --- The tier set rules -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tiers", "problem"),
    [
        ([(1, 7, D(100)), (7, None, D(0))], (1, "from_day", "Overlaps the tier of days 1–7")),
        ([(1, 7, D(100)), (9, None, D(0))], (1, "from_day", "Days 8–8 are not covered")),
        ([(2, 7, D(100)), (8, None, D(0))], (0, "from_day", "The first tier must start at day 1")),
        ([(1, 7, D(100)), (8, 15, D(0))], (1, "to_day", "Leave the last day of the last tier empty")),
        ([(1, None, D(100)), (8, None, D(0))], (0, "to_day", "Only the last tier can be open-ended")),
        ([(1, 7, D(50)), (8, None, D(80))], (1, "percent", "A later tier cannot refund more")),
        ([(8, None, D(0)), (1, 8, D(100))], (0, "from_day", "Overlaps the tier of days 1–8")),
    ],
)
def test_tier_set_problems_name_the_tier_and_the_field(tiers, problem):
    problems = tier_set_errors(tiers)
    assert len(problems) == 1
    index, field, message = problems[0]
    assert (index, field) == problem[:2]
    assert message.startswith(problem[2])


def test_a_valid_tier_set_has_no_problems():
    assert tier_set_errors([(8, 15, D(80)), (0, 7, D(100)), (16, None, D(0))]) == []
    assert tier_set_errors([]) == []


# --- The admin form and inline formset --------------------------------------------------------

TierFormSet = inlineformset_factory(
    RefundPolicy, RefundTier, formset=RefundTierInlineFormSet, fields=["from_day", "to_day", "percent"], extra=0
)


def tier_data(rows) -> dict[str, str]:
    data = {"tiers-TOTAL_FORMS": str(len(rows)), "tiers-INITIAL_FORMS": "0"}
    for i, (start, end, pct) in enumerate(rows):
        data |= {f"tiers-{i}-from_day": str(start), f"tiers-{i}-to_day": "" if end is None else str(end)}
        data[f"tiers-{i}-percent"] = str(pct)
    return data


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("rows", "form_index", "field"),
    [
        ([(1, 7, 100), (6, None, 0)], 1, "from_day"),  # overlap
        ([(1, 7, 100), (10, None, 0)], 1, "from_day"),  # gap
        ([(1, 7, 100), (8, 30, 0)], 1, "to_day"),  # closed at the end
        ([(1, 7, 50), (8, None, 60)], 1, "percent"),  # rising
        ([(1, 7, 150), (8, None, 0)], 0, "percent"),  # outside 0..100
        ([(1, 7, 100), (8, 5, 0)], 1, "to_day"),  # ends before it starts
    ],
)
def test_the_tier_formset_puts_the_error_on_the_right_tier_and_field(rows, form_index, field, course):
    owner = make_policy(course=course)
    formset = TierFormSet(tier_data(rows), instance=owner, prefix="tiers")
    assert not formset.is_valid()
    assert field in formset.forms[form_index].errors
    assert not any(formset.forms[i].errors for i in range(len(rows)) if i != form_index)


@pytest.mark.django_db
def test_the_tier_formset_ignores_deleted_tiers(course):
    owner = make_policy(course=course)
    data = tier_data([(1, 7, 100), (5, 9, 90), (8, None, 0)]) | {"tiers-1-DELETE": "on"}
    formset = TierFormSet(data, instance=owner, prefix="tiers")
    assert formset.is_valid(), formset.errors


@pytest.mark.django_db
def test_the_policy_form_refuses_a_window_without_ceiling(course):
    form = RefundPolicyForm(
        {
            "name": "x",
            "course": str(course.pk),
            "is_active": "on",
            "mode": "rules",
            "cooling_off_days": "7",
            "cooling_off_anchor": "purchase",
            "tier_anchor": "purchase",
            "consumption_basis": "none",
            "handling_fee_percent": "10",
            "materials_fee": "-5",
            "notify_channels": ["inbox"],
        }
    )
    assert not form.is_valid()
    assert set(form.errors) == {"cooling_off_progress_ceiling", "materials_fee"}
