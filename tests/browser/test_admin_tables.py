"""The admin's main lists in a real browser at a 1280 px desktop and a 390 px phone: the page never
scrolls sideways (a wide table scrolls inside its own box), and the home shows the role sections.

Every page visited is screenshotted to artifacts/screenshots/<test>-<name>.png.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from orders.models import Course, PaymentChannel
from refunds.models import ApprovalSettings
from schoolops.models import Campus
from tests import factories
from tests.conftest import reseed_shipped_data
from tests.finance.helpers import paid_refund
from tests.refunds.helpers import order_at, submit

from .conftest import PHONE, _context, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LISTS = {
    "requests": "/admin/refunds/refundrequest/",
    "queue": "/admin/refunds/approvalqueueitem/",
    "payouts": "/admin/payments/payout/",
    "settings": "/admin/refunds/approvalsettings/",
    "inbox": "/admin/notifications/inboxmessage/",
    "notifications": "/admin/notifications/notification/",
}
LONG_COURSE = "2027 考研数学全程班（基础 + 强化 + 冲刺，含直播答疑与配套讲义）"


@pytest.fixture
def busy_campus(campus, homeroom, student):
    """A campus with a long name, requests of a long-named course in the queue and a paid refund."""
    reseed_shipped_data(templates=True)
    Campus.objects.filter(pk=campus.pk).update(name="北京海淀区中关村校区（第二教学中心）")
    for _ in range(3):
        order = order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00")
        Course.objects.filter(pk=order.course_id).update(name=LONG_COURSE)
        submit(order)
    finance = factories.make_staff(role="finance", campus=campus)
    paid_refund(campus=campus, homeroom=homeroom, finance=finance, channel=PaymentChannel.CARD)
    paid_refund(campus=campus, homeroom=homeroom)
    ApprovalSettings.objects.create(campus=campus)  # one campus with settings of its own, one on the defaults
    factories.make_campus(name="上海浦东新区张江高科技园区校区（线上学习服务中心）")
    type(homeroom.user).objects.filter(pk=homeroom.user.pk).update(is_superuser=True)
    return homeroom.user


def _admin_login(page, live_server, user) -> None:
    page.goto(f"{live_server.url}/admin/")
    page.locator("#id_username").fill(user.username)
    page.locator("#id_password").fill(factories.PASSWORD)
    page.locator("#id_password").press("Enter")
    page.wait_for_url(f"{live_server.url}/admin/")


WIDEST = """() => [...document.querySelectorAll('body *')]
    .filter(el => el.getBoundingClientRect().right > 391 && !el.closest('.results, .table-scroll'))
    .slice(0, 6)
    .map(el => `${el.tagName}#${el.id}.${el.className} ${Math.round(el.getBoundingClientRect().right)}`)"""


def _no_sideways_scroll(page) -> None:
    """The page is no wider than the screen: a phone's browser widens its window to fit a page that
    overflows, so the screen's own width is the measure, not ``innerWidth``."""
    screen = page.viewport_size["width"]
    widths = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= screen and widths[1] <= screen, (
        f"{page.url} scrolls sideways: {widths} px on a {screen} px screen; past the edge: {page.evaluate(WIDEST)}"
    )


@pytest.mark.parametrize(
    "size",
    [
        pytest.param({"viewport": {"width": 1280, "height": 800}}, id="desktop"),
        pytest.param(PHONE, id="phone"),
    ],
)
def test_the_main_lists_never_scroll_the_page_sideways(browser, live_server, busy_campus, size):
    context = _context(browser, **size)
    page = context.new_page()
    try:
        _admin_login(page, live_server, busy_campus)
        expect(page.locator("#home-approver")).to_be_visible()
        expect(page.locator("#home-finance")).to_be_visible()
        expect(page.locator("#home-operations")).to_be_visible()
        expect(page.locator("#all-tables-link")).to_be_visible()
        shot(page, "home")
        _no_sideways_scroll(page)
        for name, url in LISTS.items():
            page.goto(f"{live_server.url}{url}")
            expect(page.locator("#changelist")).to_be_visible()
            shot(page, name)
            _no_sideways_scroll(page)
        # The queue's time left is whole on one line, not clipped or wrapped.
        page.goto(f"{live_server.url}{LISTS['queue']}")
        cell = page.locator("#result_list tbody tr td.field-time_left").first
        assert cell.evaluate("td => td.scrollWidth <= td.clientWidth + 1")
        if size["viewport"]["width"] >= 1280:  # on a desktop the whole row is in view, nothing to scroll to
            results = page.locator("#changelist-form .results").bounding_box()
            box = cell.bounding_box()
            assert results is not None and box is not None
            assert box["x"] + box["width"] <= results["x"] + results["width"] + 1, "time left is off to the right"
        # The approval settings' campus name keeps its words on lines, not one character a line.
        page.goto(f"{live_server.url}{LISTS['settings']}")
        for cell in (
            page.locator("#result_list tbody tr .field-campus").first,
            page.locator("#campuses-on-defaults tbody th").first,
        ):
            box = cell.bounding_box()
            assert box is not None and box["width"] > 4 * 16, f"the campus column is {box} wide"
        page.goto(f"{live_server.url}/admin/tables/")
        expect(page.locator(".app-refunds")).to_be_visible()
        shot(page, "all-tables")
        _no_sideways_scroll(page)
    finally:
        context.close()
