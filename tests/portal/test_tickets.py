"""Her tickets to customer service (我的工单): open one with files (联系客服), the list, one ticket
with its conversation and her reply; what she never sees (internal notes, the assessment,
escalations); who may come in."""

from __future__ import annotations

import datetime
import re
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import escape
from django.utils.translation import gettext

from portal.forms import TicketOpenForm, TicketReplyForm
from portal.tickets import (
    CLOSED,
    REPLIED,
    RESOLVED,
    WAITING_FOR_US,
    YOUR_TURN,
    desk_promise,
    ticket_state,
    ticket_steps,
)
from portal.timeline import CURRENT, DONE, UPCOMING
from portal.views.tickets import _field_of
from refunds.services import refund_submit
from schoolops.models import StaffRole
from servicedesk.models import (
    DeskSettings,
    MessageKind,
    Ticket,
    TicketAttachment,
    TicketMessage,
    TicketPriority,
    TicketStatus,
)
from servicedesk.notices import expected_reply
from servicedesk.selectors import desk_settings_for, ticket_of_student
from servicedesk.services import (
    ticket_archive,
    ticket_assess,
    ticket_open,
    ticket_reply,
    ticket_resolve,
    tickets_escalate,
)
from tests import factories
from tests.refunds.helpers import PDF
from tests.schoolops.test_content_security_policy import policy

pytestmark = pytest.mark.django_db

# A real 1×1 PNG (signature, IHDR, IDAT, IEND).
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d4944415478da63f8cfc0f01f0005000201a5f7a86d0000000049454e44ae426082"
)
DESCRIPTION = "直播课回放打不开，一直显示加载中。"


def zh(msgid: str) -> str:
    """What a page in the default language shows for ``msgid`` (the English msgid until it is translated)."""
    with translation.override("zh-hans"):
        return gettext(msgid)


def page_of(response) -> str:
    return response.content.decode()


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _own_cache(settings):
    """A cache of this test's own: the sent-form numbers must not carry over from another test."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    }


@pytest.fixture
def service(campus):
    """Customer service of the student's campus (handles tickets)."""
    return factories.make_staff(role=StaffRole.SERVICE, campus=campus, name="客服小刘")


@pytest.fixture
def ticket(student):
    return ticket_open(student=student, category="technical", subject="回放打不开", description=DESCRIPTION)


def png(name: str = "截图.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PNG, content_type="image/png")


def pdf(name: str = "说明.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PDF, content_type="application/pdf")


def form(**extra) -> dict:
    return {"category": "technical", "subject": "回放打不开", "description": DESCRIPTION, **extra}


def new_url() -> str:
    return reverse("portal:ticket_new")


def ticket_url(ticket: Ticket, name: str = "portal:ticket") -> str:
    return reverse(name, args=[ticket.ticket_no])


# --- Opening a ticket ----------------------------------------------------------------------------


def test_opening_a_ticket_with_a_photo_and_a_pdf_stores_them_and_confirms_the_reply_time(logged_in, student):
    response = logged_in.post(new_url(), form(attachments=[png("屏幕.png"), pdf("订单截图.pdf")]), follow=True)
    ticket = Ticket.objects.get(student=student)
    assert response.redirect_chain == [(ticket_url(ticket), 302)]
    assert (ticket.category, ticket.priority, ticket.subject) == ("technical", TicketPriority.NORMAL, "回放打不开")
    message = ticket.messages.get()
    assert (message.kind, message.body) == (MessageKind.STUDENT, DESCRIPTION)
    stored = {a.original_name: a for a in message.attachments.all()}
    assert set(stored) == {"屏幕.png", "订单截图.pdf"}
    assert stored["屏幕.png"].content_type == "image/png"
    with stored["屏幕.png"].file.open("rb") as handle:
        assert handle.read() == PNG
    page = page_of(response)
    assert ticket.ticket_no in page
    assert escape(expected_reply(ticket)) in page
    assert ticket.response_due_at is not None
    assert f"{timezone.localtime(ticket.response_due_at):%Y-%m-%d %H:%M}" in page


def test_the_form_says_when_her_campus_answers_before_she_writes(logged_in, campus):
    DeskSettings.objects.create(
        campus=campus,
        opens_at=datetime.time(8, 30),
        closes_at=datetime.time(20, 0),
        response_minutes=120,
        urgent_response_minutes=20,
    )
    page = page_of(logged_in.get(new_url()))
    promise = desk_promise(desk_settings_for(campus_id=campus.pk))
    assert escape(promise.reply) in page
    assert escape(promise.hours) in page
    assert "08:30–20:00" in promise.hours
    with translation.override("zh-hans"):
        chinese = desk_promise(desk_settings_for(campus_id=campus.pk))
    assert chinese == promise  # the page speaks Chinese by default
    assert page.index(escape(promise.reply)) < page.index('name="description"')


def test_the_form_states_the_file_limits_and_lets_a_phone_take_a_photo(logged_in):
    page = page_of(logged_in.get(new_url()))
    assert 'type="file" name="attachments"' in page
    assert 'accept="image/*,application/pdf"' in page
    assert " multiple" in page
    limits = zh(
        "A photo of the screen or a document helps us. "
        "PDF, JPEG or PNG, at most %(max_mb)s MB each, at most %(max_files)s files."
    ) % {"max_mb": 10, "max_files": 5}
    assert escape(limits) in page
    assert page.index(escape(limits)) < page.index('name="attachments"')


def test_an_urgent_ticket_with_its_reason_is_urgent(logged_in, student):
    logged_in.post(new_url(), form(urgent="on", urgent_reason="十分钟后直播开课"))
    ticket = Ticket.objects.get(student=student)
    assert (ticket.priority, ticket.urgent_reason) == (TicketPriority.URGENT, "十分钟后直播开课")


def test_without_a_subject_the_first_words_of_the_description_are_the_subject(logged_in, student):
    logged_in.post(new_url(), form(subject=""))
    assert Ticket.objects.get(student=student).subject == DESCRIPTION[:40]


def test_an_empty_description_is_refused_at_its_field_and_creates_nothing(logged_in):
    response = logged_in.post(new_url(), form(description="   ", subject="我的主题"))
    assert response.status_code == 200
    assert response.context["form"].errors["description"] == [zh("Describe your question or problem.")]
    page = page_of(response)
    assert escape(zh("Describe your question or problem.")) in page
    assert 'class="error-summary"' in page
    assert 'value="我的主题"' in page  # what she typed is still there
    assert not Ticket.objects.exists()


def test_urgent_without_a_reason_is_refused_at_the_reason_and_keeps_what_she_typed(logged_in):
    response = logged_in.post(new_url(), form(urgent="on", urgent_reason=" "))
    errors = response.context["form"].errors
    assert list(errors) == ["urgent_reason"]
    with translation.override("zh-hans"):
        expected = gettext("Say why it is urgent, so we can answer within 30 minutes.")
    assert errors["urgent_reason"] == [expected]
    page = page_of(response)
    assert escape(expected) in page
    assert DESCRIPTION in page
    assert 'name="urgent" id="id_urgent" checked' in page
    assert not Ticket.objects.exists()
    assert not TicketMessage.objects.exists()


def test_another_students_order_is_refused_and_creates_nothing(logged_in, other_student, course, homeroom):
    theirs = factories.make_order(student=other_student, course=course, homeroom_teacher=homeroom)
    response = logged_in.post(new_url(), form(order=str(theirs.pk)))
    assert response.context["form"].errors["order"] == [zh("Choose one of your orders, or none.")]
    assert escape(zh("Choose one of your orders, or none.")) in page_of(response)
    assert not Ticket.objects.exists()


def test_another_students_refund_request_is_refused_and_creates_nothing(logged_in, other_student, course, homeroom):
    theirs = factories.make_order(student=other_student, course=course, homeroom_teacher=homeroom)
    refund = refund_submit(student=other_student, order_no=theirs.order_no, reason="time_conflict", details="冲突")
    response = logged_in.post(new_url(), form(refund_request=str(refund.pk)))
    assert response.context["form"].errors["refund_request"] == [zh("Choose one of your refund requests, or none.")]
    assert not Ticket.objects.exists()


def test_the_form_offers_only_her_orders(logged_in, order, other_student, course, homeroom):
    theirs = factories.make_order(student=other_student, course=course, homeroom_teacher=homeroom)
    page = page_of(logged_in.get(new_url()))
    assert f"{order.order_no}</option>" in page
    assert theirs.order_no not in page


def test_a_file_that_is_not_a_pdf_jpeg_or_png_is_refused_at_the_files_and_nothing_is_stored(logged_in, tmp_path):
    fake = SimpleUploadedFile("截图.png", b"GIF89a not a png", content_type="image/png")
    response = logged_in.post(new_url(), form(attachments=[fake]))
    message = gettext("%(name)s is not a PDF, JPEG or PNG file.") % {"name": "截图.png"}
    assert response.context["form"].errors["attachments"] == [message]
    page = page_of(response)
    assert escape(zh("For your safety the files you chose were not kept: please choose them again.")) in page
    assert DESCRIPTION in page
    assert not Ticket.objects.exists()
    assert not list((tmp_path / "media").rglob("*.*"))


def test_six_files_are_refused(logged_in):
    response = logged_in.post(new_url(), form(attachments=[png(f"{n}.png") for n in range(6)]))
    assert "attachments" in response.context["form"].errors
    assert not Ticket.objects.exists()


def test_her_order_in_the_address_is_preselected(logged_in, order):
    response = logged_in.get(new_url(), {"order": order.order_no})
    assert response.context["form"]["order"].value() == order.pk
    assert f'<option value="{order.pk}" selected>' in page_of(response)


def test_her_refund_request_in_the_address_is_preselected_with_its_order(logged_in, student, order):
    refund = refund_submit(student=student, order_no=order.order_no, reason="time_conflict", details="时间冲突。")
    form_ = logged_in.get(new_url(), {"request": refund.request_no}).context["form"]
    assert (form_["refund_request"].value(), form_["order"].value()) == (refund.pk, order.pk)


def test_another_students_order_in_the_address_preselects_nothing(logged_in, other_student, course, homeroom):
    theirs = factories.make_order(student=other_student, course=course, homeroom_teacher=homeroom)
    response = logged_in.get(new_url(), {"order": theirs.order_no})
    assert response.context["form"]["order"].value() is None
    assert f"{theirs.order_no}</option>" not in page_of(response)


def test_a_ticket_about_her_order_is_linked_to_it(logged_in, student, order):
    logged_in.post(new_url(), form(order=str(order.pk)))
    ticket = Ticket.objects.get(student=student)
    assert ticket.order == order
    page = page_of(logged_in.get(ticket_url(ticket)))
    assert reverse("portal:order", args=[order.order_no]) in page


def test_the_same_form_sent_twice_opens_one_ticket_and_shows_it(logged_in, student):
    submission = logged_in.get(new_url()).context["form"]["submission"].value()
    assert len(submission) == 32
    logged_in.post(new_url(), form(submission=submission))
    again = logged_in.post(new_url(), form(submission=submission))
    ticket = Ticket.objects.get(student=student)
    assert again.url == ticket_url(ticket)
    other = logged_in.post(new_url(), form(submission=uuid.uuid4().hex))
    assert other.status_code == 302
    assert Ticket.objects.filter(student=student).count() == 2


def test_a_refused_form_sent_again_after_the_fix_opens_the_ticket(logged_in, student):
    submission = uuid.uuid4().hex
    logged_in.post(new_url(), form(submission=submission, urgent="on"))
    assert not Ticket.objects.exists()
    logged_in.post(new_url(), form(submission=submission, urgent="on", urgent_reason="马上要考试"))
    assert Ticket.objects.get(student=student).priority == TicketPriority.URGENT


def test_a_refusal_about_no_field_goes_to_the_top_and_priority_to_the_urgent_box(student):
    open_form = TicketOpenForm(student=student)
    assert _field_of(open_form, "state") is None
    assert _field_of(open_form, "priority") == "urgent"
    assert _field_of(open_form, "order") == "order"
    assert _field_of(TicketReplyForm(), "attachments") == "attachments"


def test_opening_without_the_csrf_token_is_refused(student):
    client = Client(enforce_csrf_checks=True)
    client.force_login(student.user)
    assert client.post(new_url(), form()).status_code == 403
    assert not Ticket.objects.exists()


# --- The list -----------------------------------------------------------------------------------


def test_the_list_shows_only_her_tickets_newest_first(logged_in, student, other_student):
    earlier = ticket_open(
        student=student,
        category="question",
        subject="较早的工单",
        description="问题一",
        at=timezone.now() - datetime.timedelta(days=1),
    )
    later = ticket_open(student=student, category="complaint", subject="最新的工单", description="问题二")
    ticket_open(student=other_student, category="question", subject="别人的工单", description="问题三")
    response = logged_in.get(reverse("portal:tickets"))
    page = page_of(response)
    assert "别人的工单" not in page
    assert page.index(later.ticket_no) < page.index(earlier.ticket_no)
    assert reverse("portal:ticket_new") in page
    assert [row.ticket for row in response.context["rows"]] == [later, earlier]


def test_the_list_marks_a_reply_of_ours_she_has_not_answered(logged_in, ticket, service):
    def row():
        return logged_in.get(reverse("portal:tickets")).context["rows"][0]

    assert row().state.key == WAITING_FOR_US
    assert not row().state.reply_waiting
    ticket_reply(actor=service.user, ticket_id=ticket.pk, body="请更新 App 后再试。")
    assert row().state.key == REPLIED
    assert row().state.reply_waiting
    assert 'class="dot"' in page_of(logged_in.get(reverse("portal:tickets")))


def test_the_list_shows_the_last_update_she_can_see(logged_in, ticket, service):
    later = timezone.now() + datetime.timedelta(hours=1)
    ticket_reply(actor=service.user, ticket_id=ticket.pk, body="请更新 App。", at=later)
    ticket_reply(
        actor=service.user, ticket_id=ticket.pk, body="内部备注", internal=True, at=later + datetime.timedelta(hours=1)
    )
    row = logged_in.get(reverse("portal:tickets")).context["rows"][0]
    assert row.ticket.last_update == later


def test_the_list_shows_twenty_tickets_a_page(logged_in, student):
    for n in range(23):
        ticket_open(student=student, category="question", subject=f"工单{n:02d}", description="问题")
    first = logged_in.get(reverse("portal:tickets"))
    assert len(first.context["rows"]) == 20
    second = logged_in.get(reverse("portal:tickets"), {"page": 2})
    assert len(second.context["rows"]) == 3


def test_the_list_query_count_does_not_grow_with_tickets(logged_in, student, django_assert_max_num_queries):
    ticket_open(student=student, category="question", subject="一", description="问题")
    # session, user, student, count, rows, unread count
    with django_assert_max_num_queries(6):
        logged_in.get(reverse("portal:tickets"))
    for n in range(10):
        ticket_open(student=student, category="question", subject=f"工单{n}", description="问题")
    with django_assert_max_num_queries(6):
        logged_in.get(reverse("portal:tickets"))


def test_without_tickets_the_list_says_so_and_offers_the_button(logged_in):
    page = page_of(logged_in.get(reverse("portal:tickets")))
    assert escape(zh("Contact customer service")) in page
    assert reverse("portal:ticket_new") in page


# --- One ticket ---------------------------------------------------------------------------------


def test_her_ticket_shows_its_number_state_steps_and_when_we_answer(logged_in, ticket):
    response = logged_in.get(ticket_url(ticket))
    page = page_of(response)
    assert ticket.ticket_no in page
    assert "回放打不开" in page
    assert DESCRIPTION in page
    assert escape(expected_reply(ticket)) in page
    assert response.context["state"].key == WAITING_FOR_US
    assert [entry.state for entry in response.context["steps"]] == [DONE, CURRENT, UPCOMING, UPCOMING]


def test_another_students_ticket_is_404(logged_in, other_student):
    theirs = ticket_open(student=other_student, category="question", subject="别人的", description="别人的问题")
    assert logged_in.get(ticket_url(theirs)).status_code == 404
    assert logged_in.post(ticket_url(theirs, "portal:ticket_reply"), {"body": "偷看"}).status_code == 404
    assert theirs.messages.count() == 1


def test_an_unknown_ticket_is_404(logged_in):
    assert logged_in.get(reverse("portal:ticket", args=["TK0000"])).status_code == 404


def test_internal_notes_the_assessment_and_escalations_never_reach_her_page(logged_in, ticket, service, supervisor):
    ticket_reply(actor=service.user, ticket_id=ticket.pk, body="内部备注：学员情绪激动，注意措辞", internal=True)
    ticket_assess(
        actor=service.user, ticket_id=ticket.pk, finding="核查发现：CDN 节点故障", policy_point="技术故障补课条款"
    )
    tickets_escalate(now=timezone.now() + datetime.timedelta(days=10))
    assert ticket.escalations.exists()
    ticket_reply(actor=service.user, ticket_id=ticket.pk, body="您好，我们正在处理。")
    response = logged_in.get(ticket_url(ticket))
    page = page_of(response)
    assert "您好，我们正在处理。" in page
    for secret in ("内部备注", "学员情绪激动", "CDN 节点故障", "技术故障补课条款", "L2", "钱主管"):
        assert secret not in page
    assert [m.kind for m in response.context["conversation"]] == [MessageKind.STUDENT, MessageKind.REPLY]
    steps = response.context["steps"]
    assert steps[1].state == DONE  # she sees that it was looked into, not what was found


def test_her_reply_is_added_and_starts_our_reply_clock(logged_in, ticket, service):
    ticket_reply(actor=service.user, ticket_id=ticket.pk, body="请问是哪一节课？", wait_for_student=True)
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.WAITING
    response = logged_in.post(
        ticket_url(ticket, "portal:ticket_reply"), {"body": "第三节。", "attachments": [png()]}, follow=True
    )
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.OPEN
    assert ticket.response_due_at is not None
    message = ticket.messages.last()
    assert (message.kind, message.body) == (MessageKind.STUDENT, "第三节。")
    assert [a.original_name for a in message.attachments.all()] == ["截图.png"]
    page = page_of(response)
    assert escape(zh("Your message was sent.")) in page
    assert escape(expected_reply(ticket)) in page


def test_her_reply_reopens_a_resolved_ticket(logged_in, ticket, service):
    ticket_resolve(actor=service.user, ticket_id=ticket.pk, solution_kind="answer", solution="已为您重新开通回放权限。")
    resolved = logged_in.get(ticket_url(ticket))
    assert resolved.context["state"].key == RESOLVED
    assert "已为您重新开通回放权限。" in page_of(resolved)
    assert [e.state for e in resolved.context["steps"]] == [DONE, DONE, DONE, CURRENT]
    response = logged_in.post(ticket_url(ticket, "portal:ticket_reply"), {"body": "还是打不开。"}, follow=True)
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.OPEN
    assert ticket.resolved_at is None
    assert escape(zh("Your message was sent and the ticket is open again.")) in page_of(response)
    assert response.context["state"].key == WAITING_FOR_US


def test_a_solution_with_a_refund_request_links_to_it(logged_in, student, order, service):
    refund = refund_submit(student=student, order_no=order.order_no, reason="time_conflict", details="时间冲突。")
    ticket = ticket_open(student=student, category="refund_dispute", subject="退费", description="退费金额不对")
    ticket_resolve(
        actor=service.user,
        ticket_id=ticket.pk,
        solution_kind="refund_opened",
        solution="已为您提交退费。",
        refund_request_id=refund.pk,
    )
    page = page_of(logged_in.get(ticket_url(ticket)))
    assert reverse("portal:request", args=[refund.request_no]) in page


def test_an_empty_reply_is_refused_at_its_field_and_adds_nothing(logged_in, ticket):
    response = logged_in.post(ticket_url(ticket, "portal:ticket_reply"), {"body": "  "})
    assert response.status_code == 400
    assert response.context["form"].errors["body"] == [zh("Write your message.")]
    assert ticket.messages.count() == 1


def test_an_archived_ticket_has_no_reply_form_and_says_to_open_a_new_one(logged_in, ticket, service):
    ticket_resolve(actor=service.user, ticket_id=ticket.pk, solution_kind="answer", solution="已解决。")
    ticket_archive(actor=service.user, ticket_id=ticket.pk)
    response = logged_in.get(ticket_url(ticket))
    page = page_of(response)
    assert response.context["form"] is None
    assert response.context["state"].key == CLOSED
    assert reverse("portal:ticket_reply", args=[ticket.ticket_no]) not in page
    assert reverse("portal:ticket_new") in page
    assert [e.state for e in response.context["steps"]] == [DONE] * 4
    refused = logged_in.post(ticket_url(ticket, "portal:ticket_reply"), {"body": "再问一下"}, follow=True)
    assert ticket.ticket_no in page_of(refused)
    assert ticket.messages.filter(kind=MessageKind.STUDENT).count() == 1


def test_her_attachment_opens_for_her_and_an_internal_notes_does_not(logged_in, student, service, other_student):
    ticket = ticket_open(
        student=student, category="technical", subject="截图", description="见截图", attachments=[png()]
    )
    note = ticket_reply(
        actor=service.user, ticket_id=ticket.pk, body="内部截图", internal=True, attachments=[png("内部.png")]
    )
    mine = TicketAttachment.objects.get(message__ticket=ticket, message__kind=MessageKind.STUDENT)
    internal = note.attachments.get()
    page = page_of(logged_in.get(ticket_url(ticket)))
    assert reverse("servicedesk:attachment", args=[mine.pk]) in page
    assert reverse("servicedesk:attachment", args=[internal.pk]) not in page
    opened = logged_in.get(reverse("servicedesk:attachment", args=[mine.pk]))
    assert opened.status_code == 200
    assert b"".join(opened.streaming_content) == PNG
    assert logged_in.get(reverse("servicedesk:attachment", args=[internal.pk])).status_code == 404
    other = Client()
    other.force_login(other_student.user)
    assert other.get(reverse("servicedesk:attachment", args=[mine.pk])).status_code == 404


def test_the_ticket_page_query_count_does_not_grow_with_the_conversation(
    logged_in, ticket, service, django_assert_max_num_queries
):
    # session, user, student, ticket, messages, attachments, desk settings, unread count
    with django_assert_max_num_queries(8):
        logged_in.get(ticket_url(ticket))
    for n in range(5):
        ticket_reply(actor=service.user, ticket_id=ticket.pk, body=f"回复{n}", attachments=[png()])
        logged_in.post(ticket_url(ticket, "portal:ticket_reply"), {"body": f"追问{n}"})
    with django_assert_max_num_queries(8):
        response = logged_in.get(ticket_url(ticket))
    assert len(response.context["conversation"]) == 11


# --- Her view of a ticket, without the pages --------------------------------------------------------


def test_steps_a_ticket_resolved_without_an_assessment_shows_the_step_done_without_a_date(ticket, service):
    ticket_resolve(actor=service.user, ticket_id=ticket.pk, solution_kind="answer", solution="已解决。")
    loaded = ticket_of_student(student=ticket.student, ticket_no=ticket.ticket_no)
    steps = ticket_steps(loaded)
    assert [(s.state, s.at is not None) for s in steps] == [(DONE, True), (DONE, False), (DONE, True), (CURRENT, False)]


@pytest.mark.parametrize(
    ("status", "awaiting", "key"),
    [
        (TicketStatus.OPEN, True, WAITING_FOR_US),
        (TicketStatus.OPEN, False, REPLIED),
        (TicketStatus.WAITING, False, YOUR_TURN),
        (TicketStatus.RESOLVED, False, RESOLVED),
        (TicketStatus.ARCHIVED, False, CLOSED),
    ],
)
def test_her_words_for_each_state(status, awaiting, key):
    ticket = Ticket(status=status, awaiting_reply_since=timezone.now() if awaiting else None)
    assert ticket_state(ticket).key == key


# --- Who may come in, the policy, the ways in -------------------------------------------------------


@pytest.fixture
def ticket_pages(ticket):
    return [reverse("portal:tickets"), new_url(), ticket_url(ticket)]


def test_anonymous_visitor_is_sent_to_login_from_the_ticket_pages(client, ticket_pages):
    for url in ticket_pages:
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


def test_staff_are_sent_to_the_admin_from_the_ticket_pages(client, service, ticket_pages):
    client.force_login(service.user)
    for url in ticket_pages:
        assert client.get(url).url == reverse("admin:index")


def test_a_user_who_is_not_a_student_is_refused_the_ticket_pages(client, outsider, ticket_pages):
    client.force_login(outsider)
    for url in ticket_pages:
        assert client.get(url).status_code == 403


def test_the_ticket_pages_carry_the_content_security_policy(logged_in, ticket_pages):
    for url in ticket_pages:
        response = logged_in.get(url)
        assert response.status_code == 200
        csp = policy(response)
        assert "'unsafe-inline'" not in csp["script-src"]
        assert "'unsafe-inline'" not in csp["style-src"]
        # Scripts only from our own static files (the answers offered while she writes), none inline.
        for tag in re.findall(r"<script[^>]*>", page_of(response)):
            assert re.search(r'src="/static/[^"]+\.js"', tag), tag


def test_the_menu_leads_to_her_tickets(logged_in):
    page = page_of(logged_in.get(reverse("portal:home")))
    assert f'href="{reverse("portal:tickets")}"' in page
    tickets_page = page_of(logged_in.get(reverse("portal:tickets")))
    assert f'href="{reverse("portal:tickets")}" aria-current="page"' in tickets_page


def test_the_order_page_offers_a_ticket_about_the_order(logged_in, order):
    page = page_of(logged_in.get(reverse("portal:order", args=[order.order_no])))
    assert f"{new_url()}?order={order.order_no}" in page


def test_the_request_page_offers_a_ticket_about_the_request(logged_in, student, order):
    refund = refund_submit(student=student, order_no=order.order_no, reason="time_conflict", details="时间冲突。")
    page = page_of(logged_in.get(reverse("portal:request", args=[refund.request_no])))
    assert f"{new_url()}?request={refund.request_no}" in page


def test_the_help_center_leads_to_customer_service_with_the_reply_time(logged_in, student):
    page = page_of(logged_in.get(reverse("portal:help")))
    assert new_url() in page
    assert escape(desk_promise(desk_settings_for(campus_id=student.campus_id)).reply) in page
