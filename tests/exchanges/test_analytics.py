"""Exchanges on the dashboard: by the course left and by reason, with the refunds they replaced;
and they are not counted as refund applications."""

from __future__ import annotations

import pytest
from django.urls import reverse

from analytics.services import facts_rebuild
from exchanges.services import exchange_submit
from refunds.models import RefundRequest
from tests import factories

from .helpers import approve_all, policy, setup, target


@pytest.mark.django_db
def test_the_dashboard_counts_exchanges_by_course_and_reason_apart_from_refunds(
    client, student, homeroom, supervisor, campus
):
    policy()
    order, service = setup(student=student, homeroom=homeroom, campus=campus)
    other, _ = setup(student=student, homeroom=homeroom, campus=campus)
    done = exchange_submit(
        student=student, order_no=order.order_no, target_code=target(campus, "3000.00").code, reason="time_conflict"
    )
    approve_all(done.request, service=service, supervisor=supervisor)
    exchange_submit(
        student=student,
        order_no=other.order_no,
        target_code=target(campus, "2000.00").code,
        reason="quality",
        details="老师讲课太快，想换个班级试试。",
    )
    list(facts_rebuild())

    admin = factories.make_user(is_staff=True, is_superuser=True)
    client.force_login(admin)
    page = client.get(reverse("admin:analytics_dashboard"))
    section = page.context["exchanges"]
    assert section.asked == 2
    course_rows = {row.cells[0]: row.cells for row in section.tables["course"].rows}
    assert course_rows[order.course.name][1:4] == ["1", "1", "2,700.00"]  # a refund would have given 90 percent
    assert len(section.tables["reason"].rows) == 2
    # Not refund applications: the dashboard's refund figures stay at zero.
    assert RefundRequest.objects.count() == 2
    assert page.context["view"].dashboard.current.applications == 0
