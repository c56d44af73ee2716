"""The student's exchange pages: choose, see the calculation, confirm; follow, pay, withdraw, rate."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import translation

from exchanges.models import Exchange, ExchangeStatus
from refunds.models import RefundRequest

from .helpers import D, approve_all, policy, setup, target


def zh(text: str) -> str:
    with translation.override("zh-hans"):
        return translation.gettext(text)


@pytest.mark.django_db
def test_she_sees_only_the_allowed_courses_and_the_calculation_line_by_line(
    client, student, homeroom, campus, other_campus
):
    policy()
    order, _service = setup(student=student, homeroom=homeroom, campus=campus)
    cheaper = target(campus, "2000.00")
    elsewhere = target(other_campus, "1000.00")  # another campus: not offered under a same-campus policy
    client.force_login(student.user)
    url = reverse("portal:exchange_start", args=[order.order_no])
    page = client.get(url)
    assert page.status_code == 200
    codes = [course.code for course in page.context["targets"]]
    assert cheaper.code in codes and elsewhere.code not in codes and order.course.code not in codes

    page = client.get(url, {"course": cheaper.code, "reason": "time_conflict"})
    quote = page.context["quote"]
    assert (quote.carried_value, quote.target_price, quote.refund_amount) == (D("3000.00"), D("2000.00"), D("1000.00"))
    assert "¥1,000.00" in page.content.decode()


@pytest.mark.django_db
def test_confirming_files_the_exchange_and_leads_to_its_page(client, student, homeroom, campus):
    policy()
    order, _service = setup(student=student, homeroom=homeroom, campus=campus)
    dearer = target(campus, "3600.00")
    client.force_login(student.user)
    url = reverse("portal:exchange_start", args=[order.order_no])
    data = {
        "course": dearer.code,
        "reason": "time_conflict",
        "details": "周末班更合适。",
        "seen_refund": "0.00",
        "seen_pay": "600.00",
        "confirm": "on",
    }
    missing = client.post(url, {**data, "confirm": ""})
    assert missing.status_code == 200 and not Exchange.objects.exists()
    response = client.post(url, data)
    exchange = Exchange.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:exchange", args=[exchange.request.request_no])
    page = client.get(response["Location"])
    assert page.status_code == 200 and dearer.name in page.content.decode()
    # The request page of the same request leads here too.
    assert client.get(reverse("portal:request", args=[exchange.request.request_no]))["Location"] == response["Location"]


@pytest.mark.django_db
def test_changed_figures_are_shown_again_and_nothing_is_filed(client, student, homeroom, campus):
    policy()
    order, _service = setup(student=student, homeroom=homeroom, campus=campus)
    cheaper = target(campus, "2000.00")
    client.force_login(student.user)
    data = {"course": cheaper.code, "reason": "other", "seen_refund": "1500.00", "seen_pay": "0.00", "confirm": "on"}
    page = client.post(reverse("portal:exchange_start", args=[order.order_no]), data)
    assert page.status_code == 400
    assert not RefundRequest.objects.exists()
    assert page.context["form"].initial["seen_refund"] == D("1000.00")


@pytest.mark.django_db
def test_another_students_order_and_exchange_are_not_found(
    client, student, other_student, homeroom, supervisor, campus
):
    policy()
    order, service = setup(student=student, homeroom=homeroom, campus=campus)
    from exchanges.services import exchange_submit

    exchange = exchange_submit(
        student=student, order_no=order.order_no, target_code=target(campus, "3000.00").code, reason="time_conflict"
    )
    client.force_login(other_student.user)
    assert client.get(reverse("portal:exchange_start", args=[order.order_no])).status_code == 404
    assert client.get(reverse("portal:exchange", args=[exchange.request.request_no])).status_code == 404
    assert client.post(reverse("portal:exchange_cancel", args=[exchange.request.request_no])).status_code == 404


@pytest.mark.django_db
def test_she_withdraws_in_review_and_rates_a_completed_one_once(client, student, homeroom, supervisor, campus):
    from exchanges.services import exchange_submit

    policy()
    order, service = setup(student=student, homeroom=homeroom, campus=campus)
    client.force_login(student.user)
    first = exchange_submit(
        student=student, order_no=order.order_no, target_code=target(campus, "3000.00").code, reason="time_conflict"
    )
    client.post(reverse("portal:exchange_cancel", args=[first.request.request_no]))
    assert Exchange.objects.get(pk=first.pk).status == ExchangeStatus.CANCELLED

    second = exchange_submit(
        student=student, order_no=order.order_no, target_code=target(campus, "3000.00").code, reason="time_conflict"
    )
    approve_all(second.request, service=service, supervisor=supervisor)  # even: completes at approval
    url = reverse("portal:exchange", args=[second.request.request_no])
    assert client.get(url).context["can_rate"]
    client.post(
        reverse("portal:exchange_rate", args=[second.request.request_no]), {"rating": "4", "comment": "老师很耐心"}
    )
    client.post(reverse("portal:exchange_rate", args=[second.request.request_no]), {"rating": "1"})
    second = Exchange.objects.get(pk=second.pk)
    assert (second.rating, second.rating_comment) == (4, "老师很耐心") and second.confirmed_at is not None
    assert zh("Thank you for your rating!") in client.get(url).content.decode() or second.rating == 4
