"""The help center (帮助中心): each course type's refund policy and the common questions."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from orders.models import CourseType
from refunds.models import ApprovalSettings, RefundPolicy


@pytest.fixture
def help_page(client, student):
    client.force_login(student.user)

    def get() -> str:
        response = client.get(reverse("portal:help"))
        assert response.status_code == 200
        return response.content.decode()

    return get


def test_help_lists_the_active_policy_of_every_course_type(help_page):
    page = help_page()
    for policy in RefundPolicy.objects.filter(is_active=True, course__isnull=True):
        assert policy.name in page
        assert str(CourseType(policy.course_type).label) in page
    assert RefundPolicy.objects.filter(is_active=True, course__isnull=True).count() == len(CourseType.values)


def test_help_describes_each_policy_in_plain_words(help_page):
    page = help_page()
    assert "冷静期：开课前随时可全额退款" in page  # trial
    assert "冷静期：开课后 7 天内" in page  # regular courses
    assert "缺席后看了回放的场次也算已出席" in page  # live courses count replays
    assert "退款金额由审批人按合同确定" in page  # premium, by contract
    assert "出国签证、工作调动函或海外录取通知书等证明材料" in page  # a special rule's evidence


def test_an_inactive_policy_is_not_shown(help_page):
    RefundPolicy.objects.filter(course_type=CourseType.PREMIUM).update(is_active=False)
    assert "高端定制课默认退款规则" not in help_page()


def test_help_answers_the_common_questions_in_chinese(help_page):
    page = help_page()
    for text in [
        "能退多少钱",
        "多久能到账",
        "微信支付、支付宝即时退回余额",
        "3–7 个工作日",
        "申请后流程",
        "低于 500 元",
        "500 至 2000 元",
        "高于 2000 元",
        "先由教学质检审核",
        "如何撤销、补充材料、申诉",
        "7 天内申诉一次",
        "需要哪些证明材料",
    ]:
        assert text in page


def test_help_quotes_the_thresholds_of_her_campus(help_page, campus):
    ApprovalSettings.objects.create(campus=campus, small_below=Decimal("300.00"), large_above=Decimal("3000.00"))
    page = help_page()
    assert "低于 300 元" in page
    assert "高于 3000 元" in page


def test_help_query_count_is_bounded(client, student, django_assert_max_num_queries):
    client.force_login(student.user)
    # session, user, student, policies, tiers, special rules, approval settings, desk settings, unread count
    with django_assert_max_num_queries(10):  # + the help center's answers, by section
        client.get(reverse("portal:help"))


def test_anonymous_visitor_is_sent_to_login_from_help(client, db):
    response = client.get(reverse("portal:help"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_staff_are_sent_to_the_admin_from_help(client, homeroom):
    client.force_login(homeroom.user)
    response = client.get(reverse("portal:help"))
    assert response.url == reverse("admin:index")


def test_a_user_who_is_not_a_student_is_refused_help(client, outsider):
    client.force_login(outsider)
    assert client.get(reverse("portal:help")).status_code == 403
