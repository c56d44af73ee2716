"""Every response carries a Content-Security-Policy: scripts and styles from our own files or with
the response's nonce, no plugins, no framing except where X-Frame-Options allows the site itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import reverse

from notifications.models import NotificationTemplate
from tests import factories
from tests.refunds.helpers import order_at, pdf, submit

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def policy(response) -> dict[str, list[str]]:
    """The response's Content-Security-Policy as {directive: [sources]}; fails when it has none."""
    header = response.get("Content-Security-Policy")
    assert header, f"no Content-Security-Policy on {response.request['PATH_INFO']}"
    directives = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


@pytest.fixture
def superuser(db):
    return factories.make_user(is_staff=True, is_superuser=True)


def test_a_page_has_a_policy_that_allows_no_inline_script_plugin_or_foreign_form_target(client):
    csp = policy(client.get(reverse("login")))
    assert csp["default-src"] == ["'self'"]
    assert "'unsafe-inline'" not in csp["script-src"]
    assert "'unsafe-eval'" not in csp["script-src"]
    assert "'unsafe-inline'" not in csp["style-src"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'self'"]
    assert csp["form-action"] == ["'self'"]


@pytest.mark.parametrize("name", ["portal:home", "admin:index"])
def test_pages_of_students_and_staff_carry_the_policy(client, student, superuser, name):
    client.force_login(superuser if name.startswith("admin") else student.user)
    response = client.get(reverse(name))
    assert response.status_code == 200
    assert policy(response)["object-src"] == ["'none'"]


def test_a_page_may_not_be_framed_at_all(client):
    response = client.get(reverse("login"))
    assert policy(response)["frame-ancestors"] == ["'none'"]
    assert response["X-Frame-Options"] == "DENY"


def test_an_evidence_file_may_be_framed_by_the_site_itself_for_the_admins_preview(
    client, settings, tmp_path, student, homeroom, campus
):
    settings.MEDIA_ROOT = tmp_path / "media"
    order = order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00")
    refund = submit(order, reason="illness", evidence=[pdf("证明.pdf")])
    client.force_login(homeroom.user)
    response = client.get(reverse("refunds:evidence", args=[refund.evidence.get().pk]))
    assert response.status_code == 200
    assert policy(response)["frame-ancestors"] == ["'self'"]
    assert response["X-Frame-Options"] == "SAMEORIGIN"


def test_a_style_element_carries_the_nonce_its_response_allows(client, superuser, shipped_data):
    client.force_login(superuser)
    template = NotificationTemplate.objects.first()
    response = client.get(reverse("admin:notifications_notificationtemplate_preview", args=[template.pk]))
    assert response.status_code == 200
    nonces = re.findall(r'<style nonce="([^"]+)"', response.content.decode())
    assert nonces
    assert all(f"'nonce-{nonce}'" in policy(response)["style-src"] for nonce in nonces)


def test_each_response_gets_a_nonce_of_its_own(client, superuser, shipped_data):
    client.force_login(superuser)
    url = reverse("admin:notifications_notificationtemplate_preview", args=[NotificationTemplate.objects.first().pk])
    first, second = (policy(client.get(url))["style-src"] for _ in range(2))
    assert first != second


# What the policy refuses, the templates must not contain: each such element would be blocked.
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*\bnonce=)[^>]*>", re.IGNORECASE)
UNNONCED_STYLE = re.compile(r"<style(?![^>]*\bnonce=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
STYLE_ATTRIBUTE = re.compile(r"<[^>]*\sstyle\s*=", re.IGNORECASE)
JAVASCRIPT_URL = re.compile(r"""(href|src|action)\s*=\s*["']?\s*javascript:""", re.IGNORECASE)
# Rendered to PDF by WeasyPrint, never served to a browser.
NOT_SERVED = {"finance/receipt.html", "analytics/weekly_review.html"}


def _served_templates():
    for path in sorted(TEMPLATES.rglob("*.html")):
        name = path.relative_to(TEMPLATES).as_posix()
        if name not in NOT_SERVED:
            yield name, path.read_text()


@pytest.mark.parametrize(
    "pattern",
    [INLINE_SCRIPT, UNNONCED_STYLE, EVENT_HANDLER, STYLE_ATTRIBUTE, JAVASCRIPT_URL],
    ids=["inline-script", "style-element-without-nonce", "event-handler", "style-attribute", "javascript-url"],
)
def test_no_template_has_what_the_policy_would_block(pattern):
    found = [f"{name}: {match.group(0)}" for name, text in _served_templates() for match in pattern.finditer(text)]
    assert found == []
