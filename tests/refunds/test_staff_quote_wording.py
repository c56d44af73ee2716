"""Staff read the calculation of a request about the student ("The student paid …"), not addressed to
her ("You paid …"): the same lines, amounts and formulas, computed by the same rules."""

from __future__ import annotations

import datetime
from html import escape

import pytest
from django.utils import translation

from orders.models import Course, Order
from refunds.models import QuoteSnapshotLine
from refunds.quotes import STAFF, STUDENT
from refunds.selectors import quote_lines_for_staff

from .helpers import order_at, page_url, pdf, submit, zh

pytestmark = pytest.mark.django_db

STUDENT_PAID = "You paid %(amount)s yuan for this order."
STAFF_PAID = "The student paid %(amount)s yuan for this order."


@pytest.fixture
def refund(student, homeroom, campus):
    return submit(order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00"))


def _staff_lines(refund):
    order = Order.objects.select_related("course").get(pk=refund.order_id)
    return quote_lines_for_staff(snapshot=refund.quote, order=order)


def test_the_request_page_words_the_calculation_for_staff(client, refund, homeroom):
    client.force_login(homeroom.user)
    page = client.get(page_url(refund)).content.decode()
    quote_table = page[page.index('id="quote-lines"') :]
    quote_table = quote_table[: quote_table.index("</table>")]
    assert escape(zh(STAFF_PAID) % {"amount": "1000.00"}) in quote_table
    assert escape(zh(STUDENT_PAID) % {"amount": "1000.00"}) not in quote_table


def test_the_staff_lines_are_the_kept_lines_in_other_words(refund):
    kept = list(refund.quote.lines.all())
    with translation.override("en"):
        staff = _staff_lines(refund)
    assert [(line.kind, line.amount, line.formula) for line in staff] == [
        (line.kind, line.amount, line.formula) for line in kept
    ]
    assert staff[0].explanation == STAFF_PAID % {"amount": "1000.00"}
    for line in staff:
        assert "you" not in line.explanation.lower().split(), line.explanation


def test_the_student_still_reads_her_own_wording(refund):
    with translation.override("en"):
        first = refund.quote.lines.get(position=0) if refund.quote.lines.filter(position=0).exists() else None
        first = first or refund.quote.lines.order_by("position").first()
    assert first.explanation in (STUDENT_PAID % {"amount": "1000.00"}, zh(STUDENT_PAID) % {"amount": "1000.00"})
    assert STUDENT != STAFF


def test_a_special_rule_with_materials_reads_about_the_student(student, homeroom, campus):
    refund = submit(
        order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00", lessons_watched=6),
        reason="illness",
        evidence=[pdf("诊断证明.pdf")],
    )
    kept = list(refund.quote.lines.all())
    with translation.override("en"):
        staff = _staff_lines(refund)
    assert [(line.kind, line.amount) for line in staff] == [(line.kind, line.amount) for line in kept]
    assert not isinstance(staff[0], QuoteSnapshotLine)
    for line in staff:
        assert " you" not in f" {line.explanation.lower()}", line.explanation


def test_lines_that_no_longer_compute_the_same_are_shown_as_kept(refund):
    """The order's purchase and its course's start moved a year back since the quote: the days and
    so the tiers would differ, so the kept lines are shown, not a calculation the request was not
    made with."""
    year = datetime.timedelta(days=365)
    Order.objects.filter(pk=refund.order_id).update(paid_at=refund.order.paid_at - year)
    Course.objects.filter(pk=refund.order.course_id).update(starts_at=refund.order.course.starts_at - year)
    staff = _staff_lines(refund)
    assert all(isinstance(line, QuoteSnapshotLine) for line in staff)
    assert [line.pk for line in staff] == [line.pk for line in refund.quote.lines.all()]
