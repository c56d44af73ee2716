"""Answers before a ticket (the help center's search, the answers offered while she writes, "this
solved my problem"), her ratings of a resolved ticket and a finished refund, and her copy of a
ticket's record."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.urls import reverse
from django.utils import timezone

from refunds.models import RefundStatus
from schoolops.models import StaffRole
from servicedesk.models import ArticleSolved, HelpArticle, Rating, SolutionKind, TicketCategory
from servicedesk.services import ticket_open, ticket_reply, ticket_resolve
from tests import factories
from tests.refunds.helpers import approved_refund

pytestmark = pytest.mark.django_db
ARRIVAL = "申请退费后多久能到账？"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def agent(campus, supervisor):
    return factories.make_staff(role=StaffRole.SERVICE, campus=campus, manager=supervisor)


def test_the_help_center_finds_the_answer_to_her_words(logged_in):
    page = logged_in.get(reverse("portal:help"), {"q": "退款多久到账"}).content.decode()
    results = page.split('id="results-title"')[1].split("</section>")[0]
    assert ARRIVAL in results
    assert "如何开具发票？" not in results


def test_the_help_center_lists_every_published_answer_by_section(logged_in):
    HelpArticle.objects.filter(title="如何开具发票？").update(is_published=False)
    page = logged_in.get(reverse("portal:help")).content.decode()
    assert ARRIVAL in page and 'id="section-refunds"' in page
    assert "如何开具发票？" not in page


def test_the_ticket_form_offers_answers_as_she_types(logged_in):
    fragment = logged_in.get(reverse("portal:ticket_answers"), {"q": "钱什么时候退回来"}).content.decode()
    article = HelpArticle.objects.get(title=ARRIVAL)
    assert reverse("portal:help_article", args=[article.pk]) in fragment
    assert logged_in.get(reverse("portal:ticket_answers"), {"q": ""}).content.decode().strip() == ""


def test_without_javascript_the_answers_follow_a_refused_form(logged_in):
    page = logged_in.post(
        reverse("portal:ticket_new"), {"category": "gossip", "description": "退款多久到账"}
    ).content.decode()
    assert ARRIVAL in page


def test_this_solved_my_problem_counts_once(logged_in, student):
    article = HelpArticle.objects.get(title=ARRIVAL)
    page = logged_in.get(reverse("portal:help_article", args=[article.pk])).content.decode()
    solved_url = reverse("portal:help_article_solved", args=[article.pk])
    assert solved_url in page
    for _ in range(2):
        assert logged_in.post(solved_url).status_code == 302
    assert ArticleSolved.objects.filter(article=article, student=student).count() == 1


def test_an_unpublished_answer_is_not_there(logged_in):
    article = HelpArticle.objects.get(title=ARRIVAL)
    HelpArticle.objects.filter(pk=article.pk).update(is_published=False)
    assert logged_in.get(reverse("portal:help_article", args=[article.pk])).status_code == 404
    assert logged_in.post(reverse("portal:help_article_solved", args=[article.pk])).status_code == 404


@pytest.fixture
def resolved(student, agent):
    ticket = ticket_open(student=student, category=TicketCategory.QUESTION, subject="发票", description="怎么开发票")
    ticket_reply(actor=agent.user, ticket_id=ticket.pk, body="内部：请财务协助", internal=True)
    ticket_resolve(actor=agent.user, ticket_id=ticket.pk, solution_kind=SolutionKind.ANSWER, solution="已发送邮箱")
    return ticket


def test_she_rates_her_resolved_ticket_from_its_page(logged_in, resolved, agent):
    url = reverse("portal:ticket", args=[resolved.ticket_no])
    rate = reverse("portal:ticket_rate", args=[resolved.ticket_no])
    assert rate in logged_in.get(url).content.decode()
    response = logged_in.post(rate, {"score": "5", "comment": "很快"})
    assert response.status_code == 302 and response["Location"].endswith("#rating")
    rating = Rating.objects.get(ticket=resolved)
    assert (rating.score, rating.comment, rating.staff) == (5, "很快", agent)
    assert "★★★★★" in logged_in.get(url).content.decode()


def test_a_rating_without_stars_is_refused_and_saves_nothing(logged_in, resolved):
    logged_in.post(reverse("portal:ticket_rate", args=[resolved.ticket_no]), {"score": "9"})
    assert not Rating.objects.exists()


def test_nobody_rates_someone_elses_ticket(client, other_student, resolved):
    client.force_login(other_student.user)
    assert client.post(reverse("portal:ticket_rate", args=[resolved.ticket_no]), {"score": "1"}).status_code == 404
    assert not Rating.objects.exists()


def test_she_rates_her_finished_refund(logged_in, order):
    refund = approved_refund(order, at=timezone.now(), status=RefundStatus.REFUNDED)
    page = logged_in.get(reverse("portal:request", args=[refund.request_no])).content.decode()
    assert 'id="rating"' in page
    logged_in.post(reverse("portal:refund_rate", args=[refund.request_no]), {"score": "3", "comment": "到账慢"})
    assert Rating.objects.get(refund_request=refund).score == 3


def test_a_refund_still_on_its_way_is_not_rated(logged_in, order):
    refund = approved_refund(order, at=timezone.now(), status=RefundStatus.APPROVED)
    assert 'id="rating"' not in logged_in.get(reverse("portal:request", args=[refund.request_no])).content.decode()
    logged_in.post(reverse("portal:refund_rate", args=[refund.request_no]), {"score": "3"})
    assert not Rating.objects.exists()


def test_her_copy_of_the_record_has_no_internal_note(logged_in, client, other_student, resolved):
    url = reverse("portal:ticket_record", args=[resolved.ticket_no])
    response = logged_in.get(url)
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    text = "".join(archive.read(name).decode() for name in archive.namelist())
    assert "已发送邮箱" in text and "请财务协助" not in text
    client.force_login(other_student.user)
    assert client.get(url).status_code == 404


def test_the_contact_line_comes_from_settings_on_every_page_and_in_messages(logged_in, settings):
    from django.test import Client
    from django.utils import translation

    from notifications.services.recipients import school_contact

    settings.SERVICE_HOTLINE, settings.SERVICE_HOURS = "400-123-4567", "每天 08:30–22:00"
    for page in (Client().get(reverse("login")), logged_in.get(reverse("portal:help"))):
        html = page.content.decode()
        assert 'class="hotline" href="tel:4001234567"' in html  # the header
        assert "每天 08:30–22:00" in html.split('<footer class="footer">')[1]  # the footer
    assert html.count("400-123-4567") >= 3  # header, help center, footer
    with translation.override("zh-hans"):
        line = school_contact()
    assert "400-123-4567" in line and "每天 08:30–22:00" in line and line.endswith("/tickets/new/")
