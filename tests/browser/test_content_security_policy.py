"""The Content-Security-Policy blocks nothing the pages need: a student's pages and the admin's,
in Chromium, report no violation.

Every frame of the page collects the browser's ``securitypolicyviolation`` events (an init script,
which the policy does not apply to), and Chromium's console errors about the policy are kept too.
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from playwright.sync_api import expect

from notifications.models import NotificationTemplate
from servicedesk.services import ticket_open
from tests import factories
from tests.conftest import reseed_shipped_data
from tests.refunds.helpers import order_at, pdf, submit

from .conftest import login, shot
from .test_staff_approvals import _png

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

COLLECT_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.effectiveDirective} blocked ${e.blockedURI || "inline"} in ${e.documentURI}`);
});
"""


class PolicyWatch:
    """Opens pages in ``page`` and gathers what the policy blocked on them."""

    def __init__(self, page, live_server) -> None:
        self.page = page
        self.live_server = live_server
        self.console: list[str] = []
        page.context.add_init_script(COLLECT_VIOLATIONS)
        page.on(
            "console",
            lambda message: (
                self.console.append(message.text)
                if message.type == "error" and "Content Security Policy" in message.text
                else None
            ),
        )

    def visit(self, path: str) -> None:
        response = self.page.goto(f"{self.live_server.url}{path}")
        assert response is not None and response.ok, f"{path}: {response and response.status}"
        assert "content-security-policy" in response.headers, f"{path} was served without a policy"
        self.page.wait_for_load_state("load")

    def violations(self) -> list[str]:
        found = list(self.console)
        for frame in self.page.frames:
            if frame.url.startswith(self.live_server.url):
                found += frame.evaluate("window.__cspViolations || []")
        return found


def test_a_students_pages_report_no_policy_violation(page, live_server, student, homeroom, campus):
    order = order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00", watch_progress=45)
    ticket = ticket_open(student=student, category="question", subject="发票", description="怎么开发票？")
    watch = PolicyWatch(page, live_server)

    login(page, live_server, student.user.phone, factories.PASSWORD)
    for name, args in [
        ("portal:home", []),
        ("portal:order", [order.order_no]),
        ("portal:estimate", [order.order_no]),
        ("portal:apply", [order.order_no]),
        ("portal:inbox", []),
        ("portal:help", []),
        ("portal:tickets", []),
        ("portal:ticket_new", []),
        ("portal:ticket", [ticket.ticket_no]),
    ]:
        watch.visit(reverse(name, args=args))
    watch.visit(reverse("portal:home"))
    expect(page.locator("progress.progress").first).to_be_visible()
    shot(page, "student-home")

    assert watch.violations() == []


def test_the_admins_pages_report_no_policy_violation(page, live_server, student, homeroom, campus):
    """The request page (its evidence previewed in an image and a same-site frame), the queue with
    its actions and filters, a change form with autocomplete widgets, a page with its own styles."""
    reseed_shipped_data(templates=True)
    refund = submit(
        order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00"),
        reason="illness",
        evidence=[SimpleUploadedFile("调动通知.png", _png(), content_type="image/png"), pdf("证明.pdf")],
    )
    superuser = factories.make_user(username="root", is_staff=True, is_superuser=True)
    page.set_viewport_size({"width": 1440, "height": 900})
    watch = PolicyWatch(page, live_server)

    login(page, live_server, superuser.username, factories.PASSWORD)
    watch.visit(reverse("admin:refunds_refundrequest_change", args=[refund.pk]))
    expect(page.locator("#evidence-panel img.evidence-preview")).to_be_visible()
    frame = page.locator("#evidence-panel iframe.evidence-preview")
    expect(frame).to_have_count(1)
    frame.scroll_into_view_if_needed()
    shot(page, "request-page")

    watch.visit(reverse("admin:refunds_approvalqueueitem_changelist"))
    watch.visit(reverse("admin:refunds_refundrequest_changelist"))
    watch.visit(reverse("admin:schoolops_staff_change", args=[homeroom.pk]))
    page.locator(".select2-selection").first.click()  # the autocomplete opens and fetches
    expect(page.locator(".select2-results")).to_be_visible()
    shot(page, "staff-change-form")
    template = NotificationTemplate.objects.first()
    watch.visit(reverse("admin:notifications_notificationtemplate_preview", args=[template.pk]))
    expect(page.locator("#preview .preview-body")).to_have_css("padding-top", "10px")  # its nonce'd style applies

    assert watch.violations() == []
