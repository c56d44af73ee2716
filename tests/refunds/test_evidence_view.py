"""Evidence files are streamed only to the student who gave them, staff of the campus, and head office."""

from __future__ import annotations

import pytest
from django.urls import reverse

from schoolops.models import StaffRole
from tests import factories
from tests.refunds.helpers import PDF, order_at, pdf, submit

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def evidence(student, homeroom, campus):
    order = order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00")
    refund = submit(order, reason="illness", evidence=[pdf("诊断证明 2026.pdf")])
    return refund.evidence.get()


def url_of(evidence) -> str:
    return reverse("refunds:evidence", args=[evidence.pk])


def fetch(client, user, evidence):
    client.force_login(user)
    return client.get(url_of(evidence))


def test_the_student_who_gave_it_gets_the_file_inline_with_its_name(client, student, evidence):
    response = fetch(client, student.user, evidence)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["X-Content-Type-Options"] == "nosniff"
    disposition = response["Content-Disposition"]
    assert disposition.startswith("inline;")
    assert "filename*=utf-8''%E8%AF%8A%E6%96%AD%E8%AF%81%E6%98%8E%202026.pdf" in disposition


def test_the_stored_content_type_is_sent_not_a_guess(client, student, evidence):
    type(evidence).objects.filter(pk=evidence.pk).update(content_type="image/png")
    assert fetch(client, student.user, evidence)["Content-Type"] == "image/png"


def test_another_student_gets_404(client, other_student, evidence):
    assert fetch(client, other_student.user, evidence).status_code == 404


def test_staff_of_the_requests_campus_get_the_file(client, finance, evidence):
    response = fetch(client, finance.user, evidence)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF


def test_staff_of_another_campus_get_404(client, other_campus_homeroom, evidence):
    assert fetch(client, other_campus_homeroom.user, evidence).status_code == 404


def test_head_office_who_see_every_campus_get_the_file(client, other_campus, evidence):
    operations = factories.make_head_office(role=StaffRole.OPERATIONS, campus=other_campus)
    assert operations.user.has_perm("schoolops.view_all_campuses")
    assert fetch(client, operations.user, evidence).status_code == 200


def test_a_logged_in_outsider_gets_404(client, outsider, evidence):
    assert fetch(client, outsider, evidence).status_code == 404


def test_an_anonymous_visitor_is_sent_to_login(client, evidence):
    response = client.get(url_of(evidence))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_an_unknown_file_is_404(client, student, evidence):
    client.force_login(student.user)
    assert client.get(reverse("refunds:evidence", args=[evidence.pk + 1000])).status_code == 404


def test_a_file_missing_from_storage_is_404_not_an_error(client, student, evidence):
    evidence.file.storage.delete(evidence.file.name)
    assert fetch(client, student.user, evidence).status_code == 404


def test_only_get_is_allowed(client, student, evidence):
    client.force_login(student.user)
    assert client.post(url_of(evidence)).status_code == 405
