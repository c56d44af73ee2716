"""The request page tells how a request really ended, what a contract course's amount is, each
message once with its channels, and takes the appeal's evidence (issue 20)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from notifications.models import Notification, NotificationStatus
from orders.models import CourseType
from portal.timeline import DONE, END, NOT_APPROVED, WITHDRAWN
from refunds.models import QuoteLineKind, QuoteSnapshot, RefundEvidence, RefundStatus
from refunds.services import refund_adjust_amount, refund_approve, refund_reject
from tests.refunds.helpers import PDF, PNG, order_at, submit

pytestmark = pytest.mark.django_db


def zh(msgid: str) -> str:
    with translation.override("zh-hans"):
        return gettext(msgid)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _own_cache(settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    }


@pytest.fixture
def buy(student, homeroom, campus):
    def _buy(price: str = "1000.00", **kwargs):
        return order_at(student=student, homeroom=homeroom, campus=campus, price=price, **kwargs)

    return _buy


@pytest.fixture
def as_student(client, student):
    client.force_login(student.user)
    return client


def url(refund, name: str = "portal:request") -> str:
    return reverse(name, args=[refund.request_no])


def page_of(response) -> str:
    return response.content.decode()


def timeline_list(page: str) -> str:
    """The <ol class="timeline …"> of the page, opening tag to closing tag."""
    found = re.search(r'<ol class="timeline[^"]*">.*?</ol>', page, re.S)
    assert found, "no timeline on the page"
    return found.group(0)


def arrival_words(refund) -> str:
    from portal.timeline import arrival_note

    with translation.override("zh-hans"):
        return arrival_note(refund.order.channel)


# --- 1. How it ended ------------------------------------------------------------------------------------


def test_a_withdrawn_request_ends_grey_named_withdrawn_and_promises_no_money(as_student, buy):
    refund = submit(buy("1000.00"))
    as_student.post(url(refund, "portal:cancel"), {"confirm": "on"})
    response = as_student.get(url(refund))
    page = page_of(response)
    assert response.context["outcome"] == WITHDRAWN
    last = response.context["timeline"][-1]
    assert (last.state, last.title) == (END, zh("Withdrawn"))
    timeline = timeline_list(page)
    assert 'class="timeline outcome-withdrawn"' in timeline
    assert '<li class="end" aria-current="step">' in timeline
    assert f"<dt>{zh('Amount to refund')}</dt>" not in page
    assert arrival_words(refund) not in page
    assert zh("You withdrew this request, so no money is paid back for it.") in page


def test_a_rejected_request_ends_red_named_not_approved_with_reason_and_appeal_deadline(as_student, buy, homeroom):
    refund = submit(buy("1000.00"))
    refund_reject(request_id=refund.pk, actor=homeroom.user, reason="课程已过退费期")
    response = as_student.get(url(refund))
    page = page_of(response)
    assert response.context["outcome"] == NOT_APPROVED
    last = response.context["timeline"][-1]
    assert (last.state, last.title) == (END, zh("Not approved"))
    assert "课程已过退费期" in last.detail
    deadline = response.context["actions"].appeal_deadline
    assert deadline is not None
    from django.utils import timezone

    assert timezone.localtime(deadline).strftime("%Y-%m-%d %H:%M") in last.detail
    assert 'class="timeline outcome-not-approved"' in timeline_list(page)
    assert f"<dt>{zh('Amount to refund')}</dt>" not in page
    assert arrival_words(refund) not in page
    assert zh("This request was not approved, so no money is paid back for it.") in page


def test_a_request_closed_with_nothing_to_pay_ends_grey_without_an_arrival(
    as_student, buy, homeroom, supervisor, finance
):
    refund = submit(buy("1000.00"))
    refund_adjust_amount(request_id=refund.pk, actor=homeroom.user, amount="0.00", reason="已全部学完")
    for person in (homeroom, supervisor, finance):
        refund_approve(request_id=refund.pk, actor=person.user)
    refund.refresh_from_db()
    assert refund.status == RefundStatus.CLOSED
    response = as_student.get(url(refund))
    page = page_of(response)
    assert response.context["outcome"] == "closed"
    assert response.context["timeline"][-1].state == END
    assert 'class="timeline outcome-closed"' in timeline_list(page)
    assert arrival_words(refund) not in page
    assert f"<dt>{zh('Amount to refund')}</dt>" not in page


def test_a_request_in_review_has_no_end_and_still_says_when_money_arrives(as_student, buy):
    refund = submit(buy("1000.00"))
    response = as_student.get(url(refund))
    page = page_of(response)
    assert response.context["outcome"] == ""
    assert END not in [entry.state for entry in response.context["timeline"]]
    assert 'class="timeline"' in timeline_list(page)
    assert f"<dt>{zh('Amount to refund')}</dt>" in page
    assert arrival_words(refund) in page


def test_an_appealed_rejection_is_history_not_the_end(as_student, buy, homeroom):
    refund = submit(buy("1000.00"))
    refund_reject(request_id=refund.pk, actor=homeroom.user, reason="课程已过退费期")
    as_student.post(url(refund, "portal:appeal"), {"reason": "我在第3天就提出了，有聊天记录"})
    response = as_student.get(url(refund))
    states = {entry.title: entry.state for entry in response.context["timeline"]}
    assert states[zh("Not approved")] == DONE
    assert response.context["outcome"] == ""


def test_the_request_list_promises_no_amount_for_a_withdrawn_request(as_student, buy):
    withdrawn = submit(buy("1000.00"))
    as_student.post(url(withdrawn, "portal:cancel"), {"confirm": "on"})
    page = page_of(as_student.get(reverse("portal:requests")))
    assert withdrawn.request_no in page
    assert "900.00" not in page
    pending = submit(buy("2000.00"))
    page = page_of(as_student.get(reverse("portal:requests")))
    assert pending.request_no in page
    assert "1800.00" in page


# --- 2. A contract course -------------------------------------------------------------------------------


def test_a_contract_course_request_page_says_the_reviewer_sets_the_amount_never_0(as_student, buy):
    refund = submit(buy("20000.00", course_type=CourseType.PREMIUM))
    contract_line = refund.quote.lines.get(kind=QuoteLineKind.CONTRACT)
    assert contract_line.amount < 0
    response = as_student.get(url(refund))
    page = page_of(response)
    assert response.context["contract_amount"] is True
    assert zh("The amount is set by the reviewer under your contract") in page
    assert "¥0.00" not in page
    assert f"−¥{-contract_line.amount}" not in page
    rows = page_of(as_student.get(reverse("portal:requests")))
    assert " 0.00 " not in rows


def test_a_contract_course_confirmation_page_says_the_reviewer_sets_the_amount(as_student, buy):
    refund = submit(buy("20000.00", course_type=CourseType.PREMIUM))
    page = page_of(as_student.get(url(refund, "portal:submitted")))
    assert zh("The amount is set by the reviewer under your contract") in page
    assert "¥0.00" not in page


def test_a_contract_course_submitted_message_says_the_reviewer_sets_the_amount(shipped_data, buy, student):
    refund = submit(buy("20000.00", course_type=CourseType.PREMIUM))
    texts = list(
        Notification.objects.filter(refund_request=refund, recipient=student.user, event="refund.submitted")
        .order_by("channel")
        .values_list("channel", "body")
    )
    assert {channel for channel, _ in texts} >= {"inbox", "email"}
    for channel, body in texts:
        assert "金额由审核人按合同确定" in body, channel
        assert "0.00" not in body, channel


# --- 3. Messages once per event ------------------------------------------------------------------------


def test_a_message_sent_on_three_channels_is_listed_once_with_each_channel_and_state(
    shipped_data, as_student, buy, student
):
    refund = submit(buy("1000.00"))  # a regular course: inbox, e-mail and SMS
    rows = Notification.objects.filter(refund_request=refund, recipient=student.user, event="refund.submitted")
    assert sorted(rows.values_list("channel", flat=True)) == ["email", "inbox", "sms"]
    rows.filter(channel="inbox").update(status=NotificationStatus.SENT)
    rows.filter(channel="sms").update(status=NotificationStatus.FAILED)
    response = as_student.get(url(refund))
    groups = response.context["messages_sent"]
    assert len(groups) == 1
    assert [(c.channel, c.state) for c in groups[0].channels] == [
        ("inbox", "sent"),
        ("sms", "failed"),
        ("email", "queued"),
    ]
    inbox_copy = rows.get(channel="inbox")
    assert groups[0].body == inbox_copy.body
    page = page_of(response)
    assert page.count(inbox_copy.subject) == 1
    assert page.count('class="message-group') == 1
    for channel in ("inbox", "sms", "email"):
        assert f'data-channel="{channel}"' in page
    # The addresses in it are links to tap.
    link = re.search(r"https?://\S+?/refunds/\S+?/", inbox_copy.body)
    assert link and f'<a href="{link.group(0)}"' in page


def test_an_event_whose_every_copy_failed_is_not_listed(shipped_data, as_student, buy, student):
    refund = submit(buy("1000.00"))
    Notification.objects.filter(refund_request=refund, recipient=student.user).update(status=NotificationStatus.FAILED)
    assert as_student.get(url(refund)).context["messages_sent"] == []


def test_the_request_page_lists_messages_in_a_fixed_number_of_queries(
    shipped_data, as_student, buy, homeroom, django_assert_max_num_queries
):
    refund = submit(buy("1000.00"))
    refund_approve(request_id=refund.pk, actor=homeroom.user)  # a second event with its own copies
    with django_assert_max_num_queries(40):
        response = as_student.get(url(refund))
    assert len(response.context["messages_sent"]) == 2


# --- 5. Appeal with evidence ----------------------------------------------------------------------------


@pytest.fixture
def rejected(buy, homeroom):
    refund = submit(buy("1000.00"), evidence=[SimpleUploadedFile("first.pdf", PDF, content_type="application/pdf")])
    refund_reject(request_id=refund.pk, actor=homeroom.user, reason="课程已过退费期")
    refund.refresh_from_db()
    return refund


def stored_files() -> list[Path]:
    root = Path(django_settings.MEDIA_ROOT)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_the_appeal_page_offers_a_file_upload(as_student, rejected):
    page = page_of(as_student.get(url(rejected, "portal:appeal")))
    assert 'enctype="multipart/form-data"' in page
    assert 'type="file" name="evidence"' in page
    assert "multiple" in page


def test_an_appeal_with_files_stores_them_as_appeal_evidence_shown_to_her_and_the_approver(
    as_student, client, rejected, supervisor
):
    files = [
        SimpleUploadedFile("聊天记录.png", PNG, content_type="image/png"),
        SimpleUploadedFile("申请截图.pdf", PDF, content_type="application/pdf"),
    ]
    response = as_student.post(url(rejected, "portal:appeal"), {"reason": "我在第3天就提出了", "evidence": files})
    assert response.status_code == 302
    rejected.refresh_from_db()
    assert rejected.status == RefundStatus.PENDING_SUPERVISOR
    evidence = list(RefundEvidence.objects.filter(request=rejected).order_by("pk"))
    assert [(e.original_name, e.for_appeal) for e in evidence] == [
        ("first.pdf", False),
        ("聊天记录.png", True),
        ("申请截图.pdf", True),
    ]
    assert evidence[1].file.read() == PNG
    page = page_of(as_student.get(url(rejected)))
    assert page.count(zh("with your appeal")) == 2
    client.force_login(supervisor.user)
    review = page_of(client.get(reverse("admin:refunds_refundrequest_change", args=[rejected.pk])))
    assert "聊天记录.png" in review
    assert review.count(zh("Appeal evidence")) == 2


def test_an_appeal_with_a_file_of_the_wrong_type_is_refused_and_nothing_is_saved(as_student, rejected):
    before = stored_files()
    files = [
        SimpleUploadedFile("good.pdf", PDF, content_type="application/pdf"),
        SimpleUploadedFile("notes.pdf", b"plain words, not a PDF", content_type="application/pdf"),
    ]
    response = as_student.post(url(rejected, "portal:appeal"), {"reason": "我在第3天就提出了", "evidence": files})
    assert response.status_code == 200
    page = page_of(response)
    with translation.override("zh-hans"):
        assert gettext("%(name)s is not a PDF, JPEG or PNG file.") % {"name": "notes.pdf"} in page
    assert "我在第3天就提出了" in page  # her words are kept
    assert response.context["choose_files_again"] is True
    rejected.refresh_from_db()
    assert rejected.status == RefundStatus.REJECTED
    assert rejected.appeal_reason == ""
    assert not RefundEvidence.objects.filter(request=rejected, for_appeal=True).exists()
    assert stored_files() == before


def test_an_appeal_past_its_window_keeps_none_of_its_files(as_student, rejected):
    import datetime

    from django.utils import timezone

    from refunds.models import RefundRequest

    RefundRequest.objects.filter(pk=rejected.pk).update(decided_at=timezone.now() - datetime.timedelta(days=8))
    before = stored_files()
    files = [SimpleUploadedFile("good.pdf", PDF, content_type="application/pdf")]
    as_student.post(url(rejected, "portal:appeal"), {"reason": "我在第3天就提出了", "evidence": files})
    rejected.refresh_from_db()
    assert rejected.status == RefundStatus.REJECTED
    assert not RefundEvidence.objects.filter(request=rejected, for_appeal=True).exists()
    assert stored_files() == before


# --- The calculation she confirmed -------------------------------------------------------------------


def test_the_request_page_reads_the_calculation_in_plain_sentences_with_the_formula_on_demand(as_student, buy):
    refund = submit(buy("1000.00"))
    response = as_student.get(url(refund))
    page = page_of(response)
    assert response.context["live_quote"] is not None
    assert [line.amount for line in response.context["live_quote"].lines] == [
        line.amount for line in refund.quote.lines.all()
    ]
    plain = page.split('<ul class="plain-lines">', 1)[1].split("</ul>", 1)[0]
    assert "×" not in plain and "≤" not in plain  # the formulas are behind "show the formula"
    assert '<details class="quote-formulas">' in page
    assert "¥900.00" in page  # 1,000.00 less the 10% fee, as applied for


def test_a_snapshot_that_cannot_be_computed_again_is_shown_as_kept(as_student, buy):
    refund = submit(buy("1000.00"))
    # Terms kept by an older version, say (written under the model's write-once guard).
    QuoteSnapshot.objects.filter(pk=refund.quote_id).update(policy_terms={})
    response = as_student.get(url(refund))
    assert response.context["live_quote"] is None
    assert '<ul class="plain-lines">' not in page_of(response)
    assert "¥900.00" in page_of(response)
