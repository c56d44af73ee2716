"""Submitting a refund request: whose order, what is refundable, evidence, one open request, first review, risk."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from orders.models import CourseType
from refunds.evidence import MAX_EVIDENCE_BYTES, MAX_EVIDENCE_FILES
from refunds.models import RefundEvidence, RefundPolicy, RefundRequest, RefundStatus, RefundTransition, StepDecision
from refunds.services import (
    refund_approve,
    refund_cancel,
    refund_quote,
    refund_resubmit,
    refund_return_for_info,
    refund_submit,
)
from tests import factories

from .helpers import (
    JPEG,
    PDF,
    PNG,
    approved_refund,
    assert_refused,
    event_kinds,
    footprint,
    log_of,
    money,
    order_at,
    pdf,
    set_settings,
    submit,
    upload,
)

pytestmark = pytest.mark.django_db

LONG_ENOUGH = "课程内容与宣传不符合"  # exactly 10 characters


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def buy(student, homeroom, campus):
    def _buy(price: str = "1000.00", *, who=None, **kwargs):
        return order_at(student=who or student, homeroom=homeroom, campus=campus, price=price, **kwargs)

    return _buy


def stored_files(settings) -> list:
    root = settings.MEDIA_ROOT
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


# --- Whose order, what reason ---------------------------------------------------------------------


def test_a_submitted_request_waits_for_the_homeroom_teacher_with_the_quote_amount(buy, student, homeroom):
    order = buy("1000.00")
    request = submit(order)
    assert request.status == RefundStatus.PENDING_HOMEROOM
    assert (request.order, request.student, request.campus) == (order, student, order.course.campus)
    assert request.requested_amount == request.approved_amount == money("900.00")
    assert request.quote.total == money("900.00")
    assert request.risk_flags == []
    step = request.steps.get()
    assert (step.tier, step.assignee, step.decision) == ("homeroom", homeroom, StepDecision.PENDING)
    assert log_of(request) == [("submit", "", "pending_homeroom")]
    assert event_kinds(request) == ["submitted", "assigned"]


def test_the_submission_is_logged_as_the_student_with_her_details(buy, student):
    request = submit(buy(), details="工作调动，晚上无法上课")
    row = RefundTransition.objects.get(request=request)
    assert (row.actor, row.comment, row.created_at) == (student.user, "工作调动，晚上无法上课", request.submitted_at)
    assert request.history.get().history_user == student.user


def test_the_submission_time_is_the_given_moment(buy):
    at = timezone.now() - datetime.timedelta(hours=5)
    request = submit(buy(), at=at)
    assert request.submitted_at == at
    assert request.steps.get().created_at == at
    assert request.steps.get().due_at == at + datetime.timedelta(hours=24)


def test_another_students_order_is_not_found(buy, student, other_student):
    order = buy(who=other_student)
    assert_refused(
        lambda: refund_submit(student=student, order_no=order.order_no, reason="time_conflict", details="x" * 20),
        code="not_found",
    )


def test_an_unknown_order_number_is_not_found(student, db):
    assert_refused(
        lambda: refund_submit(student=student, order_no="NO-SUCH-ORDER", reason="time_conflict"), code="not_found"
    )


@pytest.mark.parametrize("reason", ["", "bored", "QUALITY"])
def test_an_unknown_reason_is_refused(buy, reason):
    order = buy()
    assert_refused(lambda: submit(order, reason=reason), code="reason")


def test_an_order_with_nothing_refundable_is_refused(student, homeroom, campus):
    course = factories.make_course(
        campus=campus, price="1000.00", starts_at=timezone.now() - datetime.timedelta(days=20)
    )
    order = factories.make_order(student=student, course=course, homeroom_teacher=homeroom)
    assert refund_quote(order=order, reason="time_conflict").total == 0
    assert_refused(lambda: submit(order), code="nothing_refundable")


def test_an_order_whose_course_has_no_policy_is_refused(buy):
    order = buy()
    RefundPolicy.objects.filter(course_type=CourseType.RECORDED).update(is_active=False)
    assert_refused(lambda: submit(order), code="no_policy")


# --- Evidence ---------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["illness", "relocation", "quality"])
def test_a_reason_with_a_special_rule_needs_its_evidence(buy, reason):
    order = buy()
    assert refund_quote(order=order, reason=reason).evidence_required
    error = assert_refused(lambda: submit(order, reason=reason, details=LONG_ENOUGH), code="evidence")
    assert refund_quote(order=order, reason=reason).evidence_required in error.message


@pytest.mark.parametrize("reason", ["illness", "relocation", "quality"])
def test_a_reason_with_a_special_rule_is_accepted_with_evidence(buy, reason):
    request = submit(buy(), reason=reason, details=LONG_ENOUGH, evidence=[pdf()])
    assert request.status in (RefundStatus.PENDING_HOMEROOM, RefundStatus.PENDING_QUALITY)
    assert request.evidence.count() == 1


@pytest.mark.parametrize("reason", ["time_conflict", "duplicate_purchase", "technical", "other"])
def test_a_reason_without_a_special_rule_needs_no_evidence(buy, reason):
    order = buy()
    assert refund_quote(order=order, reason=reason).evidence_required == ""
    assert submit(order, reason=reason, details=LONG_ENOUGH).evidence.count() == 0


def test_evidence_is_kept_with_its_name_type_size_and_digest(buy):
    request = submit(buy(), reason="illness", evidence=[pdf("诊断证明.pdf"), upload("scan.png", PNG)])
    rows = list(request.evidence.order_by("pk"))
    assert [(r.original_name, r.content_type, r.size) for r in rows] == [
        ("诊断证明.pdf", "application/pdf", len(PDF)),
        ("scan.png", "image/png", len(PNG)),
    ]
    assert all(len(r.sha256) == 64 for r in rows)
    assert not rows[0].file.name.endswith("诊断证明.pdf")  # the student's name never reaches the disk


def test_the_type_of_a_file_is_its_content_not_its_name(buy):
    request = submit(buy(), reason="illness", evidence=[upload("photo.pdf", JPEG)])
    row = request.evidence.get()
    assert (row.content_type, row.file.name[-4:]) == ("image/jpeg", ".jpg")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("certificate.pdf", b"I am a doctor, trust me. This is not a PDF."),
        ("certificate.pdf", b""),
        ("scan.png", b"<html><script>alert(1)</script></html>"),
        ("report.docx", b"PK\x03\x04" + b"\x00" * 40),
    ],
)
def test_a_file_that_is_not_really_a_pdf_jpeg_or_png_is_refused(buy, settings, name, content):
    order = buy()
    error = assert_refused(lambda: submit(order, reason="illness", evidence=[upload(name, content)]), code="evidence")
    assert name in error.message
    assert stored_files(settings) == []


def test_a_file_of_exactly_10_mb_is_accepted(buy):
    big = PDF + b"0" * (MAX_EVIDENCE_BYTES - len(PDF))
    request = submit(buy(), reason="illness", evidence=[upload("big.pdf", big)])
    assert request.evidence.get().size == MAX_EVIDENCE_BYTES


def test_a_file_over_10_mb_is_refused(buy, settings):
    order = buy()
    big = PDF + b"0" * (MAX_EVIDENCE_BYTES + 1 - len(PDF))
    error = assert_refused(lambda: submit(order, reason="illness", evidence=[upload("big.pdf", big)]), code="evidence")
    assert "10 MB" in error.message
    assert stored_files(settings) == []


def test_five_files_are_accepted(buy):
    files = [pdf(f"page{i}.pdf") for i in range(MAX_EVIDENCE_FILES)]
    assert submit(buy(), reason="illness", evidence=files).evidence.count() == 5


def test_more_than_five_files_are_refused(buy, settings):
    order = buy()
    files = [pdf(f"page{i}.pdf") for i in range(MAX_EVIDENCE_FILES + 1)]
    assert_refused(lambda: submit(order, reason="illness", evidence=files), code="evidence")
    assert stored_files(settings) == []


def test_one_bad_file_among_good_ones_refuses_them_all(buy, settings):
    order = buy()
    files = [pdf("ok.pdf"), upload("fake.pdf", b"plain text"), upload("ok.png", PNG)]
    assert_refused(lambda: submit(order, reason="illness", evidence=files), code="evidence")
    assert RefundEvidence.objects.count() == 0
    assert stored_files(settings) == []


def test_resubmitted_files_count_towards_the_five(buy, student, homeroom):
    request = submit(buy(), reason="illness", evidence=[pdf(f"p{i}.pdf") for i in range(4)])
    refund_return_for_info(request_id=request.pk, actor=homeroom.user, missing="诊断证明不清晰")
    assert_refused(
        lambda: refund_resubmit(request_id=request.pk, student=student, evidence=[pdf("a.pdf"), pdf("b.pdf")]),
        code="evidence",
        request=request,
    )
    request = refund_resubmit(request_id=request.pk, student=student, evidence=[pdf("a.pdf")])
    assert request.evidence.count() == 5


# --- One open request per order ---------------------------------------------------------------


def test_a_second_request_while_one_is_open_is_refused_and_the_first_is_untouched(buy):
    order = buy()
    first = submit(order)
    before = footprint(first.pk)
    assert_refused(lambda: submit(order), code="open_request")
    assert footprint(first.pk) == before


@pytest.mark.parametrize("closed", ["cancelled", "rejected", "refunded"])
def test_a_closed_request_frees_the_order(buy, closed):
    order = buy()
    approved_refund(order, at=timezone.now(), status=closed)
    assert submit(order).status == RefundStatus.PENDING_HOMEROOM


@pytest.mark.parametrize("open_state", ["needs_info", "approved", "paying", "payout_failed"])
def test_a_request_that_still_holds_the_order_blocks_a_new_one(buy, open_state):
    order = buy()
    approved_refund(order, at=timezone.now(), status=open_state)
    assert_refused(lambda: submit(order), code="open_request")


def test_the_database_refuses_a_second_open_request_for_the_order(buy):
    order = buy()
    first = submit(order)
    second = RefundRequest(
        request_no="RFDIRECT00000001",
        order=order,
        student=first.student,
        campus=first.campus,
        reason="other",
        quote=first.quote,
        requested_amount=first.requested_amount,
        approved_amount=first.approved_amount,
        route=first.route,
        submitted_at=first.submitted_at,
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        second.save()
    assert RefundRequest.objects.filter(order=order).count() == 1


def test_the_database_allows_a_new_request_beside_closed_ones(buy, student):
    order = buy()
    first = submit(order)
    refund_cancel(request_id=first.pk, student=student)
    second = submit(order)
    assert RefundRequest.objects.filter(order=order).count() == 2
    assert second.is_open and not RefundRequest.objects.get(pk=first.pk).is_open


# --- The first review: incomplete applications go straight back -----------------------------


@pytest.mark.parametrize("reason", ["other", "quality", "content_mismatch"])
@pytest.mark.parametrize("details", ["", "太差了", "123456789", "   短   ", "课程内容与宣传不符"])
def test_a_reason_that_needs_the_students_words_is_returned_when_they_are_too_short(buy, reason, details):
    evidence = [pdf()] if reason == "quality" else None
    request = submit(buy(), reason=reason, details=details, evidence=evidence)
    assert RefundRequest.objects.filter(pk=request.pk).exists()
    assert request.status == RefundStatus.NEEDS_INFO
    assert request.returned_tier == request.route[0]
    assert log_of(request) == [
        ("submit", "", f"pending_{request.route[0]}"),
        ("auto_return", f"pending_{request.route[0]}", "needs_info"),
    ]
    auto_return = RefundTransition.objects.get(request=request, name="auto_return")
    assert auto_return.actor is None
    assert "10" in auto_return.comment
    # No approver was given an incomplete application: no step, no "assigned" message.
    assert not request.steps.exists()
    assert event_kinds(request) == ["submitted", "returned"]
    assert request.history.latest().history_user is None


@pytest.mark.parametrize("reason", ["other", "quality", "content_mismatch"])
def test_ten_characters_of_details_are_enough(buy, reason):
    evidence = [pdf()] if reason == "quality" else None
    request = submit(buy(), reason=reason, details=LONG_ENOUGH, evidence=evidence)
    assert request.status == f"pending_{request.route[0]}"


@pytest.mark.parametrize("reason", ["time_conflict", "duplicate_purchase", "technical", "illness", "relocation"])
def test_other_reasons_need_no_details(buy, reason):
    evidence = [pdf()] if reason in ("illness", "relocation") else None
    request = submit(buy(), reason=reason, details="", evidence=evidence)
    assert request.status == RefundStatus.PENDING_HOMEROOM


def test_a_returned_application_with_enough_details_goes_back_to_its_first_tier(buy, student):
    request = submit(buy(), reason="other", details="不想学")
    assert request.status == RefundStatus.NEEDS_INFO
    request = refund_resubmit(request_id=request.pk, student=student, details="孩子升学考试，暂停所有课外班")
    assert request.status == RefundStatus.PENDING_HOMEROOM
    assert request.details == "不想学\n\n孩子升学考试，暂停所有课外班"
    assert [name for name, _from, _to in log_of(request)] == ["submit", "auto_return", "resubmit"]


def test_a_resubmission_still_too_short_goes_straight_back_again(buy, student):
    request = submit(buy(), reason="other", details="")
    request = refund_resubmit(request_id=request.pk, student=student, details="不想学")
    assert request.status == RefundStatus.NEEDS_INFO
    assert [name for name, _from, _to in log_of(request)] == ["submit", "auto_return", "resubmit", "auto_return"]


# --- Risk at submission -----------------------------------------------------------------------


def test_a_high_risk_student_is_flagged_and_skips_the_automatic_check(buy, student):
    student.high_risk = True
    student.high_risk_note = "多次恶意退款"
    student.save()
    request = submit(buy("300.00"))
    assert request.route == ["homeroom", "supervisor", "finance"]
    assert len(request.risk_flags) == 1 and "多次恶意退款" in request.risk_flags[0]


def test_a_student_with_as_many_refunds_as_allowed_in_a_year_is_not_flagged(buy, student):
    now = timezone.now()
    for _ in range(3):  # risk_refunds_per_year defaults to 3: "more than 3" is flagged
        approved_refund(buy(), at=now - datetime.timedelta(days=30))
    request = submit(buy("300.00"))
    assert request.risk_flags == []
    assert request.route == ["homeroom", "auto"]


def test_a_student_with_more_refunds_in_a_year_than_allowed_is_flagged(buy, student):
    now = timezone.now()
    for _ in range(4):
        approved_refund(buy(), at=now - datetime.timedelta(days=30))
    request = submit(buy("300.00"))
    assert request.risk_flags == ["Refunds in the last 12 months: 4."]
    assert request.route == ["homeroom", "supervisor", "finance"]


def test_refunds_older_than_a_year_do_not_count(buy, student):
    now = timezone.now()
    for _ in range(4):
        approved_refund(buy(), at=now - datetime.timedelta(days=366))
    assert submit(buy("300.00")).risk_flags == []


@pytest.mark.parametrize(
    ("status", "counts"),
    [
        ("approved", True),
        ("paying", True),
        ("payout_failed", True),
        ("refunded", True),
        ("rejected", False),
        ("cancelled", False),
    ],
)
def test_only_refunds_paid_or_on_their_way_count(buy, student, status, counts):
    now = timezone.now()
    for _ in range(4):
        approved_refund(buy(), at=now - datetime.timedelta(days=30), status=status)
    assert bool(submit(buy("300.00")).risk_flags) is counts


def test_the_campus_sets_how_many_refunds_a_year_are_too_many(buy, campus):
    set_settings(campus, risk_refunds_per_year=0)
    approved_refund(buy(), at=timezone.now() - datetime.timedelta(days=30))
    assert submit(buy("300.00")).risk_flags == ["Refunds in the last 12 months: 1."]


def test_another_students_refunds_do_not_count(buy, other_student):
    for _ in range(4):
        approved_refund(buy(who=other_student), at=timezone.now() - datetime.timedelta(days=30))
    assert submit(buy("300.00")).risk_flags == []


def test_a_flagged_request_is_reviewed_by_people_after_the_homeroom_teacher(
    buy, student, homeroom, supervisor, finance
):
    student.high_risk = True
    student.save()
    request = submit(buy("300.00"))
    for staff, after in [(homeroom, "pending_supervisor"), (supervisor, "pending_finance"), (finance, "approved")]:
        request = refund_approve(request_id=request.pk, actor=staff.user)
        assert request.status == after
    assert not request.steps.filter(tier="auto").exists()
    assert request.approved_amount == Decimal("270.00")
