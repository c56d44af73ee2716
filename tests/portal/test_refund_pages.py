"""The student's refund pages: apply, the confirmation, the request's timeline, cancel, resubmit, appeal."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from notifications.models import InboxMessage
from orders.models import CourseType, OrderStatus, PaymentChannel
from portal.timeline import (
    CURRENT,
    DONE,
    END,
    STOPPED,
    UPCOMING,
    refund_request_for_student,
    timeline_build,
)
from portal.views.refunds import SUBMITS_PER_HOUR
from refunds.models import (
    ApprovalTier,
    RefundEvidence,
    RefundRequest,
    RefundStatus,
    StepDecision,
)
from refunds.rules import student_actions
from refunds.selectors import approval_settings_for
from refunds.services import (
    refund_adjust_amount,
    refund_approve,
    refund_reject,
    refund_resubmit,
    refund_return_for_info,
)
from tests import factories
from tests.refunds.helpers import PDF, order_at, pdf, submit

pytestmark = pytest.mark.django_db

DETAILS = "上班时间调整，晚上无法继续上课。"


def zh(msgid: str) -> str:
    """What a page in the default language shows for ``msgid`` (the English msgid until it is translated)."""
    with translation.override("zh-hans"):
        return gettext(msgid)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _own_cache(settings):
    """A cache of this test's own: the submission counter must not carry over from another test."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    }


@pytest.fixture
def buy(student, homeroom, campus):
    def _buy(price: str = "1000.00", *, who=None, **kwargs):
        return order_at(student=who or student, homeroom=homeroom, campus=campus, price=price, **kwargs)

    return _buy


@pytest.fixture
def as_student(client, student):
    client.force_login(student.user)
    return client


def apply_url(order) -> str:
    return reverse("portal:apply", args=[order.order_no])


def request_url(refund, name: str = "portal:request") -> str:
    return reverse(name, args=[refund.request_no])


def application(reason: str = "time_conflict", **extra) -> dict:
    return {"reason": reason, "details": DETAILS, "confirm": "on", **extra}


def page_of(response) -> str:
    return response.content.decode()


def load(refund: RefundRequest) -> RefundRequest:
    return refund_request_for_student(student=refund.student, request_no=refund.request_no)


def entries_of(refund: RefundRequest) -> list[tuple[str, str]]:
    refund = load(refund)
    settings = approval_settings_for(campus=refund.campus_id)
    with translation.override("en"):
        return [(e.title, e.state) for e in timeline_build(refund, settings=settings)]


# --- Who may see what -------------------------------------------------------------------------------------

REQUEST_PAGES = [
    ("get", "portal:request"),
    ("get", "portal:submitted"),
    ("post", "portal:cancel"),
    ("get", "portal:resubmit"),
    ("post", "portal:resubmit"),
    ("get", "portal:appeal"),
    ("post", "portal:appeal"),
]


@pytest.mark.parametrize(("method", "name"), REQUEST_PAGES)
def test_anonymous_visitor_is_sent_to_login_from_every_request_page(client, buy, method, name):
    refund = submit(buy())
    response = getattr(client, method)(request_url(refund, name))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("method", ["get", "post"])
def test_anonymous_visitor_is_sent_to_login_from_the_apply_page(client, buy, method):
    order = buy()
    response = getattr(client, method)(apply_url(order), application())
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
    assert not RefundRequest.objects.exists()


@pytest.mark.parametrize(("method", "name"), REQUEST_PAGES)
def test_every_request_page_answers_404_for_another_students_request(as_student, buy, other_student, method, name):
    foreign = submit(buy(who=other_student))
    status = foreign.status
    data = {"confirm": "on", "details": "补充说明", "reason": "不同意"}
    response = getattr(as_student, method)(request_url(foreign, name), data)
    assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.status == status
    assert foreign.transitions.count() == 1


@pytest.mark.parametrize("method", ["get", "post"])
def test_the_apply_page_answers_404_for_another_students_order(as_student, buy, other_student, method):
    foreign = buy(who=other_student)
    response = getattr(as_student, method)(apply_url(foreign), application())
    assert response.status_code == 404
    assert not RefundRequest.objects.exists()


def test_an_unknown_order_number_is_404(as_student, db):
    assert as_student.get(reverse("portal:apply", args=["NO-SUCH-ORDER"])).status_code == 404


# --- Apply: the page ----------------------------------------------------------------------------------------


def test_apply_page_shows_the_quote_lines_and_the_evidence_needed(as_student, buy):
    order = buy("1000.00")
    response = as_student.get(apply_url(order), {"reason": "illness"})
    quote = response.context["quote"]
    page = page_of(response)
    assert quote.lines
    for line in quote.lines:
        assert line.label in page
        assert line.explanation in page
    assert str(quote.total) in page
    assert "二级及以上医院出具的诊断证明或孕检证明" in page  # the seeded policy's evidence for illness
    assert 'type="file"' in page and "multiple" in page
    assert 'name="confirm"' in page


def test_apply_page_shows_the_policy_and_the_upload_limits(as_student, buy):
    order = buy()
    page = page_of(as_student.get(apply_url(order), {"reason": "time_conflict"}))
    assert "开课后7天内可申请退款" in page  # the policy text, as written by operations
    assert "PDF, JPEG" in page or "PDF、JPEG" in page
    assert ">10<" in page or " 10 " in page


def test_apply_page_without_a_reason_asks_for_one_and_offers_no_application(as_student, buy):
    order = buy()
    response = as_student.get(apply_url(order))
    page = page_of(response)
    assert response.status_code == 200
    assert 'name="reason"' in page
    assert "quote" not in response.context
    assert 'name="confirm"' not in page


def test_an_unknown_reason_is_not_quoted(as_student, buy):
    response = as_student.get(apply_url(buy()), {"reason": "bored"})
    assert response.status_code == 200
    assert response.context["reason_invalid"] is True
    assert "quote" not in response.context


def test_an_order_with_a_request_in_progress_says_so_and_links_to_it(as_student, buy):
    order = buy()
    refund = submit(order)
    page = page_of(as_student.get(apply_url(order), {"reason": "time_conflict"}))
    assert refund.request_no in page
    assert request_url(refund) in page
    assert 'name="confirm"' not in page


def test_a_fully_refunded_order_shows_a_clear_message_and_no_form(as_student, buy):
    order = buy()
    order.refunded_total = order.amount_paid
    order.status = OrderStatus.REFUNDED
    order.save()
    response = as_student.get(apply_url(order), {"reason": "time_conflict"})
    page = page_of(response)
    assert response.context["nothing_refundable"] is True
    assert zh("Nothing left to refund") in page
    assert "<form" not in page.split("</header>", 1)[1]  # the header's log-out and language forms aside


def test_a_reason_that_refunds_nothing_shows_a_clear_message_and_no_application(as_student, student, homeroom, campus):
    # Day 21 of the course: the regular policy refunds nothing from day 8 (special reasons aside).
    course = factories.make_course(campus=campus, starts_at=timezone.now() - datetime.timedelta(days=20))
    order = factories.make_order(student=student, course=course, homeroom_teacher=homeroom)
    response = as_student.get(apply_url(order), {"reason": "time_conflict"})
    assert response.context["nothing_for_reason"] is True
    assert zh("Nothing to refund for this reason") in page_of(response)
    assert 'name="confirm"' not in page_of(response)
    illness = as_student.get(apply_url(order), {"reason": "illness"})
    assert 'name="confirm"' in page_of(illness)


def test_a_contract_course_says_the_reviewer_sets_the_amount(as_student, buy):
    order = buy("20000.00", course_type=CourseType.PREMIUM)
    response = as_student.get(apply_url(order), {"reason": "time_conflict"})
    assert response.context["quote"].needs_approver_amount
    assert "20000.00" in page_of(response)
    assert 'name="confirm"' in page_of(response)


# --- Apply: submitting ----------------------------------------------------------------------------------------


def test_applying_creates_a_request_and_redirects_to_the_confirmation(as_student, buy, student):
    order = buy("1000.00")
    response = as_student.post(apply_url(order), application())
    refund = RefundRequest.objects.get()
    assert response.status_code == 302
    assert response.url == request_url(refund, "portal:submitted")
    assert (refund.order, refund.student, refund.reason, refund.details) == (order, student, "time_conflict", DETAILS)
    assert refund.status == RefundStatus.PENDING_HOMEROOM


def test_the_confirmation_shows_the_number_the_amount_and_what_comes_next(as_student, buy, homeroom):
    refund = submit(buy("1000.00"))
    response = as_student.get(request_url(refund, "portal:submitted"))
    page = page_of(response)
    assert refund.request_no in page
    assert "900.00" in page
    assert homeroom.name in page
    assert request_url(refund) in page
    assert [e.state for e in response.context["timeline"]].count(UPCOMING) >= 3


def test_the_confirmation_of_an_incomplete_application_asks_for_the_missing_part(as_student, buy):
    refund = submit(buy(), reason="other", details="不想学了")  # too short for "other": returned at once
    assert refund.status == RefundStatus.NEEDS_INFO
    assert entries_of(refund)[:3] == [
        ("Submitted", DONE),
        ("More information needed", CURRENT),
        ("Homeroom teacher reviewing", UPCOMING),
    ]
    page = page_of(as_student.get(request_url(refund, "portal:submitted")))
    assert request_url(refund, "portal:resubmit") in page


def test_applying_with_evidence_stores_the_files(as_student, buy):
    order = buy()
    as_student.post(apply_url(order), application("illness", evidence=[pdf("诊断证明.pdf")]))
    evidence = RefundEvidence.objects.get()
    assert evidence.original_name == "诊断证明.pdf"
    assert evidence.request.reason == "illness"


def test_the_same_post_again_makes_one_request_and_a_friendly_message(as_student, buy):
    order = buy()
    first = as_student.post(apply_url(order), application())
    second = as_student.post(apply_url(order), application())
    refund = RefundRequest.objects.get()
    assert first.status_code == 302
    assert second.status_code == 200
    assert second.context["open_request_no"] == refund.request_no
    page = page_of(second)
    assert zh("This order already has a refund request in progress") in page
    assert request_url(refund) in page


def test_a_text_file_named_pdf_is_refused_with_the_details_kept_and_nothing_created(as_student, buy):
    from django.core.files.uploadedfile import SimpleUploadedFile

    fake = SimpleUploadedFile("certificate.pdf", b"just some text, not a PDF", content_type="application/pdf")
    response = as_student.post(apply_url(buy()), application("illness", evidence=[fake]))
    page = page_of(response)
    assert response.status_code == 200
    assert not RefundRequest.objects.exists()
    assert not RefundEvidence.objects.exists()
    with translation.override("zh-hans"):
        assert gettext("%(name)s is not a PDF, JPEG or PNG file.") % {"name": "certificate.pdf"} in page
    assert DETAILS in page  # the details are kept
    assert 'value="illness"' in page  # and the reason
    assert response.context["choose_files_again"] is True


def test_an_application_without_the_confirmation_creates_nothing(as_student, buy):
    data = application()
    del data["confirm"]
    response = as_student.post(apply_url(buy()), data)
    assert response.status_code == 200
    assert response.context["form"].errors["confirm"]
    assert DETAILS in page_of(response)
    assert not RefundRequest.objects.exists()


def test_details_longer_than_2000_characters_are_refused(as_student, buy):
    response = as_student.post(apply_url(buy()), application(details="很" * 2001))
    assert response.context["form"].errors["details"]
    assert not RefundRequest.objects.exists()


def test_a_reason_not_in_the_list_is_refused(as_student, buy):
    response = as_student.post(apply_url(buy()), application("bored"))
    assert response.status_code == 200
    assert not RefundRequest.objects.exists()


def test_applying_without_the_csrf_token_is_refused(buy, student):
    client = Client(enforce_csrf_checks=True)
    client.force_login(student.user)
    response = client.post(apply_url(buy()), application())
    assert response.status_code == 403
    assert not RefundRequest.objects.exists()


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("portal:cancel", {"confirm": "on"}),
        ("portal:resubmit", {"details": "补充"}),
        ("portal:appeal", {"reason": "不同意"}),
    ],
)
def test_every_action_without_the_csrf_token_is_refused(buy, student, name, data):
    refund = submit(buy())
    client = Client(enforce_csrf_checks=True)
    client.force_login(student.user)
    assert client.post(request_url(refund, name), data).status_code == 403
    refund.refresh_from_db()
    assert refund.status == RefundStatus.PENDING_HOMEROOM


def test_the_forms_carry_the_csrf_token(as_student, buy):
    order = buy()
    assert "csrfmiddlewaretoken" in page_of(as_student.get(apply_url(order), {"reason": "time_conflict"}))
    refund = submit(order)
    assert "csrfmiddlewaretoken" in page_of(as_student.get(request_url(refund)))


def test_submissions_past_the_hourly_limit_get_429_and_create_nothing(as_student, buy):
    order = buy()
    refused = application()
    del refused["confirm"]
    for _ in range(SUBMITS_PER_HOUR):
        assert as_student.post(apply_url(order), refused).status_code == 200
    response = as_student.post(apply_url(order), application())
    assert response.status_code == 429
    assert response.context["rate_limited"] is True
    assert not RefundRequest.objects.exists()


def test_the_hourly_limit_is_counted_per_student(as_student, buy, other_student, client):
    mine = buy()
    for _ in range(SUBMITS_PER_HOUR + 1):
        as_student.post(apply_url(mine), {"reason": "time_conflict"})
    other = Client()
    other.force_login(other_student.user)
    response = other.post(apply_url(buy(who=other_student)), application())
    assert response.status_code == 302


# --- The request page: the timeline ------------------------------------------------------------------------


def test_a_new_request_shows_submitted_the_current_tier_and_the_tiers_ahead(buy):
    refund = submit(buy("1000.00"))  # 900.00: homeroom -> supervisor -> finance
    assert entries_of(refund) == [
        ("Submitted", DONE),
        ("Homeroom teacher reviewing", CURRENT),
        ("Teaching supervisor reviewing", UPCOMING),
        ("Finance approving", UPCOMING),
        ("Approved", UPCOMING),
        ("Refunding", UPCOMING),
        ("Refunded", UPCOMING),
    ]


def test_after_an_approval_the_next_tier_is_current_and_handled_by_its_person(as_student, buy, homeroom, supervisor):
    refund = submit(buy("1000.00"))
    refund_approve(request_id=refund.pk, actor=homeroom.user)
    assert entries_of(refund)[:4] == [
        ("Submitted", DONE),
        ("Homeroom teacher reviewing", DONE),
        ("Teaching supervisor reviewing", CURRENT),
        ("Finance approving", UPCOMING),
    ]
    response = as_student.get(request_url(refund))
    assert response.context["handler"] == supervisor.name
    assert supervisor.name in page_of(response)


def test_a_pooled_tier_is_shown_by_its_role_not_a_person(as_student, buy, homeroom, supervisor, finance):
    refund = submit(buy("1000.00"))
    refund_approve(request_id=refund.pk, actor=homeroom.user)
    refund_approve(request_id=refund.pk, actor=supervisor.user)
    response = as_student.get(request_url(refund))
    with translation.override("zh-hans"):
        assert response.context["handler"] == str(finance.get_role_display())
    assert finance.name not in page_of(response)


def test_a_small_request_that_passes_the_automatic_check_is_approved(buy, homeroom):
    refund = submit(buy("400.00"))  # 360.00: homeroom -> automatic check
    refund_approve(request_id=refund.pk, actor=homeroom.user)
    assert entries_of(refund) == [
        ("Submitted", DONE),
        ("Homeroom teacher reviewing", DONE),
        ("Automatic check", DONE),
        ("Approved", CURRENT),
        ("Refunding", UPCOMING),
        ("Refunded", UPCOMING),
    ]


def test_a_returned_request_shows_what_is_missing_and_how_to_supply_it(as_student, buy, homeroom):
    refund = submit(buy())
    refund_return_for_info(request_id=refund.pk, actor=homeroom.user, missing="请上传课程截图")
    assert entries_of(refund)[2:4] == [("More information needed", CURRENT), ("Homeroom teacher reviewing", UPCOMING)]
    page = page_of(as_student.get(request_url(refund)))
    assert "请上传课程截图" in page
    assert request_url(refund, "portal:resubmit") in page


def test_a_rejected_request_shows_the_reason_and_the_appeal_deadline(as_student, buy, homeroom):
    refund = submit(buy())
    refund_reject(request_id=refund.pk, actor=homeroom.user, reason="课程已过退费期")
    refund.refresh_from_db()
    assert entries_of(refund)[-1] == ("Not approved", END)
    response = as_student.get(request_url(refund))
    page = page_of(response)
    deadline = refund.decided_at + datetime.timedelta(days=7)
    assert "课程已过退费期" in page
    assert timezone.localtime(deadline).strftime("%Y-%m-%d %H:%M") in page
    assert request_url(refund, "portal:appeal") in page


def test_a_cancelled_request_ends_the_timeline(as_student, buy):
    refund = submit(buy())
    as_student.post(request_url(refund, "portal:cancel"), {"confirm": "on"})
    assert entries_of(refund) == [
        ("Submitted", DONE),
        ("Homeroom teacher reviewing", STOPPED),  # withdrawn before the teacher decided
        ("Withdrawn", END),
    ]


def test_an_adjusted_amount_is_shown_with_its_note(as_student, buy, homeroom):
    refund = submit(buy("1000.00"))
    refund_adjust_amount(request_id=refund.pk, actor=homeroom.user, amount="800.00", reason="扣除已寄送的教材")
    page = page_of(as_student.get(request_url(refund)))
    assert "800.00" in page
    assert "扣除已寄送的教材" in page
    assert "900.00" in page  # the quote it was adjusted from


def test_the_request_page_shows_the_quote_breakdown_stored_at_submission(as_student, buy):
    refund = submit(buy("1000.00"))
    page = page_of(as_student.get(request_url(refund)))
    for line in refund.quote.lines.all():
        assert line.label in page
        assert line.explanation in page


def test_the_request_page_never_shows_staff_phone_numbers(as_student, buy, homeroom, supervisor):
    for person, phone in [(homeroom, "13700000001"), (supervisor, "13700000002")]:
        person.user.phone = phone
        person.user.save()
    refund = submit(buy("1000.00"))
    refund_approve(request_id=refund.pk, actor=homeroom.user)
    page = page_of(as_student.get(request_url(refund)))
    assert "13700000001" not in page
    assert "13700000002" not in page


@pytest.mark.parametrize(
    ("channel", "msgid"),
    [
        (PaymentChannel.WECHAT, "Back to your WeChat Pay balance as soon as the refund is paid out."),
        (PaymentChannel.ALIPAY, "Back to your Alipay balance as soon as the refund is paid out."),
        (PaymentChannel.CARD, "Back to your bank card 3–7 business days after the refund is paid out."),
        (PaymentChannel.OFFLINE, "Finance will contact you to arrange the transfer."),
    ],
)
def test_the_request_page_says_when_the_money_arrives_by_channel(as_student, buy, channel, msgid):
    refund = submit(buy(channel=channel))
    assert zh(msgid) in page_of(as_student.get(request_url(refund)))


def test_the_request_page_lists_her_evidence_with_links(as_student, buy):
    refund = submit(buy(), reason="illness", evidence=[pdf("诊断证明.pdf")])
    evidence = refund.evidence.get()
    page = page_of(as_student.get(request_url(refund)))
    assert "诊断证明.pdf" in page
    assert reverse("refunds:evidence", args=[evidence.pk]) in page


def test_the_request_page_lists_the_messages_sent_about_this_request_only(as_student, buy, student, homeroom):
    refund = submit(buy())
    other = submit(buy())
    InboxMessage.objects.create(
        recipient=student.user, subject="退费申请已提交", body="我们已收到", refund_request=refund
    )
    InboxMessage.objects.create(recipient=student.user, subject="另一笔申请", body="-", refund_request=other)
    InboxMessage.objects.create(recipient=homeroom.user, subject="待审核", body="-", refund_request=refund)
    page = page_of(as_student.get(request_url(refund)))
    assert "退费申请已提交" in page
    assert "另一笔申请" not in page
    assert "待审核" not in page


def test_no_receipt_link_is_shown_before_receipts_exist(as_student, buy):
    refund = submit(buy())
    response = as_student.get(request_url(refund))
    assert response.context["receipt_url"] == ""
    assert zh("Download the e-receipt") not in page_of(response)


# --- Cancel ------------------------------------------------------------------------------------------------


def test_cancel_withdraws_a_pending_request(as_student, buy):
    refund = submit(buy())
    response = as_student.post(request_url(refund, "portal:cancel"), {"confirm": "on"}, follow=True)
    refund.refresh_from_db()
    assert refund.status == RefundStatus.CANCELLED
    assert response.redirect_chain[-1][0] == request_url(refund)
    assert zh("Your refund request was withdrawn.") in page_of(response)


def test_cancel_without_the_tick_changes_nothing(as_student, buy):
    refund = submit(buy())
    response = as_student.post(request_url(refund, "portal:cancel"), {}, follow=True)
    refund.refresh_from_db()
    assert refund.status == RefundStatus.PENDING_HOMEROOM
    assert zh("Tick the box to confirm that you want to withdraw the request.") in page_of(response)


def test_cancel_is_refused_after_approval_with_a_message_and_the_state_unchanged(as_student, buy, homeroom):
    refund = submit(buy("400.00"))
    refund_approve(request_id=refund.pk, actor=homeroom.user)  # passes the automatic check: approved
    refund.refresh_from_db()
    assert refund.status == RefundStatus.APPROVED
    transitions = refund.transitions.count()
    response = as_student.post(request_url(refund, "portal:cancel"), {"confirm": "on"}, follow=True)
    refund.refresh_from_db()
    assert refund.status == RefundStatus.APPROVED
    assert refund.transitions.count() == transitions
    with translation.override("zh-hans"):
        assert gettext("This request can no longer be cancelled.") in page_of(response)


def test_the_cancel_form_is_shown_only_while_cancelling_is_possible(as_student, buy, homeroom):
    refund = submit(buy("400.00"))
    assert request_url(refund, "portal:cancel") in page_of(as_student.get(request_url(refund)))
    refund_approve(request_id=refund.pk, actor=homeroom.user)
    assert request_url(refund, "portal:cancel") not in page_of(as_student.get(request_url(refund)))


def test_cancel_is_post_only(as_student, buy):
    refund = submit(buy())
    assert as_student.get(request_url(refund, "portal:cancel")).status_code == 405


# --- Resubmit ----------------------------------------------------------------------------------------------


def test_resubmit_page_shows_what_is_missing(as_student, buy, homeroom):
    refund = submit(buy())
    refund_return_for_info(request_id=refund.pk, actor=homeroom.user, missing="请上传课程截图")
    page = page_of(as_student.get(request_url(refund, "portal:resubmit")))
    assert "请上传课程截图" in page
    assert 'type="file"' in page


def test_resubmitting_sends_the_request_back_to_the_tier_that_asked(as_student, buy, homeroom):
    refund = submit(buy())
    refund_return_for_info(request_id=refund.pk, actor=homeroom.user, missing="请上传课程截图")
    response = as_student.post(
        request_url(refund, "portal:resubmit"), {"details": "截图已上传", "evidence": [pdf("截图.pdf")]}
    )
    refund.refresh_from_db()
    assert response.status_code == 302
    assert response.url == request_url(refund)
    assert refund.status == RefundStatus.PENDING_HOMEROOM
    assert "截图已上传" in refund.details
    assert refund.evidence.get().original_name == "截图.pdf"


def test_resubmitting_a_bad_file_keeps_the_words_and_changes_nothing(as_student, buy, homeroom):
    from django.core.files.uploadedfile import SimpleUploadedFile

    refund = submit(buy())
    refund_return_for_info(request_id=refund.pk, actor=homeroom.user, missing="请上传课程截图")
    fake = SimpleUploadedFile("截图.png", b"not an image", content_type="image/png")
    response = as_student.post(request_url(refund, "portal:resubmit"), {"details": "截图已上传", "evidence": [fake]})
    refund.refresh_from_db()
    assert response.status_code == 200
    assert "截图已上传" in page_of(response)
    assert refund.status == RefundStatus.NEEDS_INFO
    assert not refund.evidence.exists()


def test_the_resubmit_page_of_a_request_not_waiting_for_information_sends_her_back(as_student, buy):
    refund = submit(buy())
    response = as_student.get(request_url(refund, "portal:resubmit"))
    assert response.status_code == 302
    assert response.url == request_url(refund)


def test_resubmitting_a_request_not_waiting_for_information_is_refused_with_a_message(as_student, buy):
    refund = submit(buy())
    response = as_student.post(request_url(refund, "portal:resubmit"), {"details": "补充"}, follow=True)
    refund.refresh_from_db()
    assert refund.status == RefundStatus.PENDING_HOMEROOM
    assert refund.transitions.count() == 1
    with translation.override("zh-hans"):
        assert gettext("This request is not waiting for information.") in page_of(response)


# --- Appeal ------------------------------------------------------------------------------------------------


@pytest.fixture
def rejected(buy, homeroom):
    refund = submit(buy("1000.00"))
    refund_reject(request_id=refund.pk, actor=homeroom.user, reason="课程已过退费期")
    refund.refresh_from_db()
    return refund


def test_the_appeal_page_shows_the_reason_and_the_deadline(as_student, rejected):
    page = page_of(as_student.get(request_url(rejected, "portal:appeal")))
    assert "课程已过退费期" in page
    deadline = rejected.decided_at + datetime.timedelta(days=7)
    assert timezone.localtime(deadline).strftime("%Y-%m-%d %H:%M") in page


def test_an_appeal_goes_to_the_tier_above_once(as_student, rejected, supervisor):
    url = request_url(rejected, "portal:appeal")
    response = as_student.post(url, {"reason": "我在第3天就提出了，有聊天记录"})
    rejected.refresh_from_db()
    assert response.status_code == 302
    assert rejected.status == RefundStatus.PENDING_SUPERVISOR
    assert rejected.appeal_reason == "我在第3天就提出了，有聊天记录"
    refund_reject(request_id=rejected.pk, actor=supervisor.user, reason="维持原决定")
    again = as_student.post(url, {"reason": "再申诉一次"}, follow=True)
    rejected.refresh_from_db()
    assert rejected.status == RefundStatus.REJECTED
    assert rejected.appeal_reason == "我在第3天就提出了，有聊天记录"
    with translation.override("zh-hans"):
        assert gettext("This request was appealed already; an appeal is possible once.") in page_of(again)
    assert request_url(rejected, "portal:appeal") not in page_of(as_student.get(request_url(rejected)))


def test_an_appeal_needs_a_reason(as_student, rejected):
    response = as_student.post(request_url(rejected, "portal:appeal"), {"reason": "  "})
    rejected.refresh_from_db()
    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    assert rejected.status == RefundStatus.REJECTED


def test_no_appeal_after_the_window(as_student, rejected):
    RefundRequest.objects.filter(pk=rejected.pk).update(decided_at=timezone.now() - datetime.timedelta(days=8))
    request_page = page_of(as_student.get(request_url(rejected)))
    assert request_url(rejected, "portal:appeal") not in request_page
    assert as_student.get(request_url(rejected, "portal:appeal")).status_code == 302
    response = as_student.post(request_url(rejected, "portal:appeal"), {"reason": "不同意"}, follow=True)
    rejected.refresh_from_db()
    assert rejected.status == RefundStatus.REJECTED
    assert rejected.appealed_at is None
    with translation.override("zh-hans"):
        assert gettext("The appeal window closed on %(date)s.").split("%(date)s")[0] in page_of(response)


def test_the_appeal_window_follows_the_campus_settings(rejected, campus):
    settings = approval_settings_for(campus=campus)
    settings.appeal_days = 3
    settings.save()
    refund = load(rejected)
    now = rejected.decided_at + datetime.timedelta(days=2)
    assert student_actions(refund, settings=settings, now=now).can_appeal
    assert not student_actions(refund, settings=settings, now=now + datetime.timedelta(days=2)).can_appeal


# --- Queries -----------------------------------------------------------------------------------------------


def _queries(client, url, **params) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params)
    assert response.status_code == 200
    return len(captured.captured_queries)


def test_the_request_page_makes_the_same_queries_however_long_its_history(
    as_student, buy, student, homeroom, django_assert_max_num_queries
):
    short = submit(buy("1000.00"))
    long = submit(buy("1000.00"), evidence=[pdf()])
    for n in range(5):
        refund_return_for_info(request_id=long.pk, actor=homeroom.user, missing=f"第{n}次补充")
        refund_resubmit(request_id=long.pk, student=student, details=f"补充{n}")
    refund_adjust_amount(request_id=long.pk, actor=homeroom.user, amount="850.00", reason="调整")
    for n in range(10):
        InboxMessage.objects.create(recipient=student.user, subject=f"消息{n}", body="-", refund_request=long)
    assert long.transitions.count() >= 12
    few = _queries(as_student, request_url(short))
    many = _queries(as_student, request_url(long))
    assert few == many
    with django_assert_max_num_queries(12):
        as_student.get(request_url(long))


def test_the_apply_page_makes_a_fixed_number_of_queries(as_student, buy, django_assert_max_num_queries):
    order = buy()
    with django_assert_max_num_queries(12):
        response = as_student.get(apply_url(order), {"reason": "illness"})
    assert response.context["quote"]


def test_the_timeline_of_a_loaded_request_needs_no_query(buy, django_assert_num_queries):
    refund = load(submit(buy()))
    settings = approval_settings_for(campus=refund.campus_id)
    with django_assert_num_queries(0):
        timeline_build(refund, settings=settings)
        student_actions(refund, settings=settings, now=timezone.now())


def test_a_step_escalated_to_someone_else_shows_who_has_it_now(as_student, buy, campus_head):
    refund = submit(buy())
    refund.steps.filter(decision=StepDecision.PENDING).update(
        escalated_to=campus_head, escalated_at=timezone.now(), tier=ApprovalTier.HOMEROOM
    )
    assert as_student.get(request_url(refund)).context["handler"] == campus_head.name


def test_the_evidence_file_bytes_are_what_she_uploaded(buy):
    refund = submit(buy(), reason="illness", evidence=[pdf()])
    with refund.evidence.get().file.open("rb") as handle:
        assert handle.read() == PDF
