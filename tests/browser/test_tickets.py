"""A student contacts customer service (联系客服) from her phone: a ticket with a photo, our reply,
her answer. Every page visited is screenshotted to artifacts/screenshots/<test>-<name>.png and
must fit a 390 px screen."""

from __future__ import annotations

import struct
import zlib

import pytest
from django.utils import timezone, translation
from django.utils.translation import gettext
from playwright.sync_api import expect

from schoolops.models import StaffRole
from servicedesk.models import MessageKind, Rating, Ticket, TicketStatus
from servicedesk.services import ticket_reply
from tests import factories

from .conftest import fits_the_phone, login, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def zh(msgid: str) -> str:
    """What the page shows in Chinese for ``msgid`` (the msgid itself until it is translated)."""
    with translation.override("zh-hans"):
        return gettext(msgid)


def photo(width: int = 320, height: int = 200) -> bytes:
    """A real PNG: a screenshot-sized picture, blue above and grey below."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + (b"\x17\x69\xaa" if y < height // 2 else b"\xcb\xd2\xd9") * width for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def test_on_her_phone_she_asks_with_a_photo_reads_our_reply_and_answers(
    phone_page, page, live_server, student, order, campus
):
    desk = page  # customer service, at a desktop (1280 px)
    agent = factories.make_staff(role=StaffRole.SERVICE, campus=campus, name="客服小刘")
    picture = photo()
    page = phone_page
    login(page, live_server, student.user.phone, factories.PASSWORD)

    # From her order: "questions about this order? contact customer service", the order chosen.
    page.goto(f"{live_server.url}/orders/{order.order_no}/")
    page.locator(".contact-line").get_by_role("link", name=zh("Contact customer service")).click()
    page.wait_for_url(f"**/tickets/new/?order={order.order_no}")
    expect(page.get_by_role("heading", name=zh("Contact customer service"), exact=True)).to_be_visible()
    expect(page.locator(".promise")).to_contain_text("09:00–21:00")
    expect(page.get_by_label(zh("Order concerned"))).to_have_value(str(order.pk))
    fits_the_phone(page)
    shot(page, "1-new-phone")

    # She ticks "urgent" but forgets to say why: told at the field, nothing she typed is lost.
    page.get_by_label(zh("What is it about?")).select_option(value="technical")
    page.get_by_label(zh("Subject")).fill("直播回放打不开")
    page.get_by_label(zh("Your question or problem")).fill("昨晚的直播回放一直显示加载中，换了网络也不行。截图见附件。")
    page.locator("input[name=attachments]").set_input_files(
        files=[{"name": "回放截图.png", "mimeType": "image/png", "buffer": picture}]
    )
    page.get_by_role("checkbox", name=zh("It is urgent")).check()
    expect(page.get_by_label(zh("Why is it urgent?"))).to_be_visible()
    shot(page, "2-filled-phone")
    page.get_by_role("button", name=zh("Send to customer service")).click()
    expect(page.locator(".error-summary")).to_be_visible()
    expect(page.locator(".error-summary")).to_contain_text(
        zh("Say why it is urgent, so we can answer within 30 minutes.")
    )
    expect(page.get_by_label(zh("Your question or problem"))).to_have_value(
        "昨晚的直播回放一直显示加载中，换了网络也不行。截图见附件。"
    )
    expect(page.locator(".note")).to_be_visible()  # choose the photo again
    assert not Ticket.objects.exists()
    fits_the_phone(page)
    shot(page, "3-refused-phone")

    # Not so urgent after all: untick, choose the photo again, send.
    page.get_by_role("checkbox", name=zh("It is urgent")).uncheck()
    page.locator("input[name=attachments]").set_input_files(
        files=[{"name": "回放截图.png", "mimeType": "image/png", "buffer": picture}]
    )
    page.get_by_role("button", name=zh("Send to customer service")).click()
    page.wait_for_url("**/tickets/TK*/")
    ticket = Ticket.objects.get(student=student)
    assert (ticket.order, ticket.category, ticket.owner) == (order, "technical", agent)
    due = f"{timezone.localtime(ticket.response_due_at):%Y-%m-%d %H:%M}"
    expect(page.locator(".messages")).to_contain_text(ticket.ticket_no)
    expect(page.locator(".messages")).to_contain_text(due)
    expect(page.get_by_role("heading", name="直播回放打不开")).to_be_visible()
    link = page.get_by_role("link", name="回放截图.png")
    expect(link).to_be_visible()
    served = page.request.get(live_server.url + link.get_attribute("href"))
    assert (served.status, served.headers["content-type"], served.body()) == (200, "image/png", picture)
    fits_the_phone(page)
    shot(page, "4-sent-phone")

    # Customer service answers (and waits for her); an internal note stays internal.
    ticket_reply(actor=agent.user, ticket_id=ticket.pk, body="内部：可能是 CDN 节点问题", internal=True)
    ticket_reply(
        actor=agent.user,
        ticket_id=ticket.pk,
        body="您好，请在 App 里退出登录后重新登录，再打开回放试试。如果还不行，请告诉我们手机型号。",
        wait_for_student=True,
    )

    # Her tickets, from the menu: ours is marked as waiting for her.
    page.locator(".mainnav").get_by_role("link", name=zh("Contact customer service")).click()
    page.wait_for_url("**/tickets/")
    expect(page.get_by_role("heading", name=zh("My tickets"))).to_be_visible()
    row = page.locator(".ticket-item").filter(has_text=ticket.ticket_no)
    expect(row.locator(".badge")).to_have_text(zh("Waiting for your answer"))
    expect(row.locator(".dot")).to_have_count(1)
    fits_the_phone(page)
    shot(page, "5-list-phone")

    # She reads the reply and answers.
    row.get_by_role("link").click()
    page.wait_for_url(f"**/tickets/{ticket.ticket_no}/")
    expect(page.locator(".chat.from-reply")).to_contain_text("退出登录后重新登录")
    expect(page.locator(".conversation")).not_to_contain_text("CDN")
    page.get_by_label(zh("Your message")).fill("重新登录后可以看了，谢谢！手机是 iPhone 13。")
    page.get_by_role("button", name=zh("Send"), exact=True).click()
    expect(page.locator(".messages")).to_contain_text(zh("Your message was sent."))
    expect(page.locator(".chat.from-student").last).to_contain_text("重新登录后可以看了")
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.OPEN
    assert list(ticket.messages.values_list("kind", flat=True)) == [
        MessageKind.STUDENT,
        MessageKind.NOTE,
        MessageKind.REPLY,
        MessageKind.STUDENT,
    ]
    fits_the_phone(page)
    shot(page, "6-answered-phone")

    # Customer service answers and closes it in the admin, at a desktop.
    login(desk, live_server, agent.user.username, factories.PASSWORD)
    desk.goto(f"{live_server.url}/admin/servicedesk/ticket/{ticket.pk}/")
    expect(desk.locator(".ticket-message-note")).to_contain_text("CDN")
    desk.locator("#id_resolve_solution_kind").select_option(value="answer")
    desk.locator("#id_resolve_solution").fill("已确认是登录状态过期，重新登录即可观看回放。")
    desk.locator("#resolve-form").get_by_role("button").click()
    desk.wait_for_url(f"**/admin/servicedesk/ticket/{ticket.pk}/change/")
    expect(desk.locator(".messagelist")).to_be_visible()
    shot(desk, "7-closed-in-the-admin-desktop")
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.RESOLVED and ticket.resolved_by == agent.user

    # She reads the solution, could still write back, and rates us.
    page.reload()
    expect(page.locator(".badge.ticket-resolved")).to_be_visible()
    expect(page.get_by_role("heading", name=zh("Our solution"))).to_be_visible()
    expect(page.locator("#solution ~ .t-detail")).to_have_text("已确认是登录状态过期，重新登录即可观看回放。")
    expect(page.locator(".steps li.done")).to_have_count(3)
    expect(page.get_by_label(zh("Your message"))).to_be_visible()
    fits_the_phone(page)
    shot(page, "8-resolved-phone")
    page.locator(".stars-choice label").filter(has_text="4★").click()
    page.get_by_label(zh("Anything to tell us? (optional)")).fill("回复很快，就是第一次等了有点久。")
    page.get_by_role("button", name=zh("Send my rating")).click()
    expect(page.locator(".messages")).to_contain_text(zh("Thank you for your rating."))
    expect(page.locator(".rating-card .stars")).to_have_text("★★★★☆")
    rating = Rating.objects.get(ticket=ticket)
    assert (rating.score, rating.staff, rating.comment) == (4, agent, "回复很快，就是第一次等了有点久。")
    fits_the_phone(page)
    shot(page, "9-rated-phone")
