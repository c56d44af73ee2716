"""Customer service works tickets in the admin, in a real browser on a 1280 px screen: the list
(every cell on one or two lines), the ticket page with an internal note, and a phone call
registered for a student picked by the search-as-you-type, with no policy violation.

Screenshots go to artifacts/screenshots/<test>-<name>.png.
"""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from servicedesk import services
from servicedesk.models import MessageKind, Ticket, TicketCategory, TicketChannel, TicketPriority
from tests import factories
from tests.refunds.helpers import zh

from .conftest import login, shot
from .test_content_security_policy import PolicyWatch

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# A cell of the list holds one line, or two (number and subject, name and student number, time
# left and deadline): taller means its words wrapped, as Chinese does one character a line.
TALLEST_CELL_PX = 60


def _open(student, **extra) -> Ticket:
    values = {
        "category": TicketCategory.QUESTION,
        "subject": "直播回放一直加载失败怎么办",
        "description": "昨晚的回放打不开。",
    }
    values.update(extra)
    return services.ticket_open(student=student, **values)


def test_customer_service_reads_the_list_notes_a_ticket_and_registers_a_call(page, live_server, campus, supervisor):
    agent = factories.make_staff(role="service", campus=campus, manager=supervisor, name="客服小林")
    student = factories.make_student(campus=campus, name="王小明")
    caller = factories.make_student(campus=campus, name="陈小红")
    urgent = _open(student, priority=TicketPriority.URGENT, urgent_reason="明早考试，今晚必须看回放")
    _open(
        factories.make_student(campus=campus, name="欧阳娜娜"),
        category=TicketCategory.REFUND_DISPUTE,
        subject="退费金额与页面估算不一致，要求说明计算方法",
        at=timezone.now() - datetime.timedelta(days=8),
    )
    services.tickets_escalate()
    watch = PolicyWatch(page, live_server)

    login(page, live_server, agent.user.username, factories.PASSWORD)
    watch.visit(reverse("admin:servicedesk_ticket_changelist"))
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text(zh("Refund dispute"))  # the late one first
    expect(rows.first.locator(".ticket-overdue")).to_be_visible()
    expect(rows.nth(1).locator(".ticket-urgent")).to_be_visible()
    shot(page, "1-list")
    heights = page.locator("#result_list td, #result_list th").evaluate_all(
        "cells => cells.map(cell => [cell.className, cell.getBoundingClientRect().height])"
    )
    assert [cell for cell in heights if cell[1] > TALLEST_CELL_PX] == []

    # The urgent ticket's page: an internal note, marked as one.
    rows.nth(1).get_by_role("link", name=urgent.ticket_no).click()
    page.wait_for_url(f"**{reverse('admin:servicedesk_ticket_change', args=[urgent.pk])}")
    expect(page.locator("#urgent-reason")).to_contain_text("明早考试")
    page.locator("#id_reply_body").fill("已联系技术部重新转码。")
    page.locator("#reply-form button[name=as_note]").click()
    expect(page.locator(".messagelist .success")).to_be_visible()
    note = page.locator(".ticket-message-note")
    expect(note).to_contain_text("已联系技术部重新转码。")
    expect(note.locator(".ticket-internal-badge")).to_have_text(zh("Internal note"))
    shot(page, "2-ticket-page")
    assert urgent.messages.filter(kind=MessageKind.NOTE).count() == 1

    # A phone call registered for another student, found by her name.
    watch.visit(reverse("admin:servicedesk_ticket_add"))
    page.locator("#id_student + .select2 .select2-selection").click()
    page.locator(".select2-search__field").fill("陈小")
    page.locator(".select2-results__option").filter(has_text="陈小红").click()
    page.locator("#id_channel input[value=phone]").check()
    page.locator("#id_contact_name").fill("陈小红的爸爸")
    page.locator("#id_category").select_option(TicketCategory.COMPLAINT)
    page.locator("#id_description").fill("家长来电：助教一周没有批改作业。")
    shot(page, "3-register")
    page.locator("#register-form input[type=submit]").click()
    page.wait_for_url("**/change/")
    ticket = Ticket.objects.get(student=caller)
    assert (ticket.channel, ticket.contact_name, ticket.registered_by) == (
        TicketChannel.PHONE,
        "陈小红的爸爸",
        agent.user,
    )
    expect(page.locator("#ticket-channel")).to_contain_text("陈小红的爸爸")
    shot(page, "4-registered")

    assert watch.violations() == []
