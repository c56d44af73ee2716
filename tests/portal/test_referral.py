"""Referrals (老带新) on the student's side: her page (code, share link, rewards as her campus sets
them, her referrals with masked names), the public landing page of the link (no login, no personal
data of hers but a masked name, a friendly 404 for an unknown code), and referral_record."""

from __future__ import annotations

import datetime
from decimal import Decimal
from urllib.parse import quote

import pytest
from django.urls import reverse
from django.utils import timezone

from service.models import Referral, ReferralCode, ServiceSettings
from service.selectors import masked_name
from service.services import referral_code_for, referral_record
from tests import factories
from tests.refunds.helpers import zh

pytestmark = pytest.mark.django_db

PAGE = reverse("portal:referral")


def test_the_landing_page_is_at_r_and_the_code():
    assert reverse("portal:referral_landing", args=["ABCD2345"]) == "/r/ABCD2345/"


def landing(code: str) -> str:
    return f"/r/{quote(code, safe='')}/"


@pytest.fixture
def rewards(campus):
    return ServiceSettings.objects.create(
        campus=campus, referrer_reward=Decimal("300.00"), referee_reward=Decimal("150.00")
    )


@pytest.fixture
def friend(campus):
    return factories.make_student(campus=campus, name="李雷雷", phone="13700137000")


def brought(referrer, friend, course, teacher, *, days_ago: int = 2) -> Referral:
    order = factories.make_order(student=friend, course=course, homeroom_teacher=teacher)
    code = referral_code_for(student=referrer).code
    referral = referral_record(order=order, code=code, at=timezone.now() - datetime.timedelta(days=days_ago))
    assert referral is not None
    return referral


# --- Her page -----------------------------------------------------------------------------------


def test_her_page_shows_her_code_the_link_and_both_rewards_of_her_campus(logged_in, student, rewards, settings):
    settings.NOTIFICATIONS_SITE_URL = ""  # no site address set: the link is the request's
    page = logged_in.get(PAGE).content.decode()
    code = ReferralCode.objects.get(student=student).code
    assert f'id="referral-code">{code}<' in page
    assert f"http://testserver{landing(code)}" in page
    assert "¥300.00" in page and "¥150.00" in page
    assert (
        zh(
            "The rewards are recorded here and paid by the school, not through this page; your homeroom "
            "teacher can tell you how and when."
        )
        in page
    )


def test_her_code_is_made_once(logged_in, student):
    logged_in.get(PAGE)
    logged_in.get(PAGE)
    assert ReferralCode.objects.filter(student=student).count() == 1


def test_the_share_link_uses_the_sites_address_when_set(logged_in, student, settings):
    settings.NOTIFICATIONS_SITE_URL = "https://school.example.com"
    page = logged_in.get(PAGE).content.decode()
    code = ReferralCode.objects.get(student=student).code
    assert f"https://school.example.com/r/{code}/" in page


def test_her_referrals_are_listed_with_masked_names_dates_and_rewards(
    logged_in, student, other_student, friend, course, homeroom, rewards
):
    mine = brought(student, friend, course, homeroom, days_ago=3)
    brought(other_student, factories.make_student(campus=course.campus, name="韩梅梅"), course, homeroom)

    page = logged_in.get(PAGE).content.decode()
    assert "李**" in page and "李雷雷" not in page and friend.user.phone not in page
    assert "韩" not in page  # another student's referral
    assert timezone.localtime(mine.recorded_at).strftime("%Y-%m-%d") in page
    assert page.count('class="referral-name"') == 1
    assert "¥300.00" in page


def test_her_page_needs_her_login(client, outsider):
    response = client.get(PAGE)
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    client.force_login(outsider)
    assert client.get(PAGE).status_code == 403


def test_the_personal_center_links_to_her_referral_page(logged_in, order):
    page = logged_in.get(reverse("portal:home")).content.decode()
    assert page.count(f'href="{PAGE}"') >= 2  # the menu and the invitation under her orders


# --- The landing page ---------------------------------------------------------------------------


def test_the_landing_page_needs_no_login_and_shows_the_code_and_a_masked_name(client, student, rewards):
    code = referral_code_for(student=student).code
    response = client.get(landing(code))
    assert response.status_code == 200
    page = response.content.decode()
    assert f'id="referral-code">{code}<' in page
    assert "王**" in page
    assert "¥150.00" in page
    for private in (student.name, student.user.phone, student.student_no, student.user.email, student.user.username):
        assert private not in page


def test_the_landing_page_takes_the_code_in_any_case(client, student):
    code = referral_code_for(student=student).code
    assert client.get(landing(code.lower())).status_code == 200


@pytest.mark.parametrize("code", ["NOSUCHCD", "x" * 40, "<b>1<b>"])
def test_an_unknown_code_is_a_friendly_404(client, student, code):
    referral_code_for(student=student)
    response = client.get(landing(code))
    assert response.status_code == 404
    page = response.content.decode()
    assert zh("Referral code not found") in page
    assert "<b>1<b>" not in page
    assert student.name not in page


# --- Recording ----------------------------------------------------------------------------------


def test_a_new_order_naming_her_code_records_both_rewards_and_her_teacher(
    student, friend, course, homeroom, other_campus_homeroom, order, rewards
):
    code = referral_code_for(student=student).code
    new = factories.make_order(student=friend, course=course, homeroom_teacher=other_campus_homeroom)
    at = timezone.now()
    referral = referral_record(order=new, code=f" {code.lower()} ", at=at)
    assert referral is not None
    assert (referral.referrer, referral.referee, referral.teacher, referral.code, referral.recorded_at) == (
        student,
        friend,
        homeroom,  # the referrer's homeroom teacher, not the new student's
        code,
        at,
    )
    assert (referral.referrer_reward, referral.referee_reward) == (Decimal("300.00"), Decimal("150.00"))
    assert referral_record(order=new, code=code, at=at) == referral
    assert Referral.objects.count() == 1


def test_her_own_code_on_her_own_order_records_nothing(student, order, course, homeroom):
    code = referral_code_for(student=student).code
    again = factories.make_order(student=student, course=course, homeroom_teacher=homeroom)
    assert referral_record(order=again, code=code, at=timezone.now()) is None
    assert not Referral.objects.exists()


@pytest.mark.parametrize("code", ["", "NOSUCHCD"])
def test_an_unknown_code_records_nothing(friend, course, homeroom, code):
    new = factories.make_order(student=friend, course=course, homeroom_teacher=homeroom)
    assert referral_record(order=new, code=code, at=timezone.now()) is None
    assert not Referral.objects.exists()


@pytest.mark.parametrize(("name", "masked"), [("王小明", "王**"), ("王明", "王*"), ("王", "王*"), ("", "*")])
def test_names_are_masked_to_their_first_character(name, masked):
    assert masked_name(name) == masked
