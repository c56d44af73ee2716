"""The help center (帮助中心): search, the school's answers by section, refund policies and common
questions; one answer on its own page, where she can say it solved her problem."""

from __future__ import annotations

from itertools import groupby

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from refunds.evidence import MAX_EVIDENCE_BYTES, MAX_EVIDENCE_FILES
from refunds.selectors import approval_settings_for
from servicedesk.helpcenter import MAX_QUERY, help_article_solved, help_articles_search
from servicedesk.models import HelpArticle, HelpSection
from servicedesk.selectors import desk_settings_for

from .. import selectors
from ..tickets import desk_promise
from .common import StudentRequest, student_page

SEARCH_RESULTS = 10


@require_GET
@student_page
def help_center(request: StudentRequest) -> HttpResponse:
    """Search (``?q=``), each section's answers, each course type's refund policy in plain words,
    and the way to customer service. The amounts, deadlines and service hours quoted are those of
    the student's campus."""
    query = request.GET.get("q", "").strip()[:MAX_QUERY]
    articles = HelpArticle.objects.filter(is_published=True).order_by("section", "position", "pk")
    labels = dict(HelpSection.choices)
    context = {
        "query": query,
        "results": help_articles_search(query, limit=SEARCH_RESULTS) if query else [],
        "sections": [(key, labels.get(key, key), list(items)) for key, items in groupby(articles, lambda a: a.section)],
        "policies": selectors.course_type_policies(),
        "approval": approval_settings_for(campus=request.student.campus_id),
        "evidence_files": MAX_EVIDENCE_FILES,
        "evidence_megabytes": MAX_EVIDENCE_BYTES // (1024 * 1024),
        "promise": desk_promise(desk_settings_for(campus_id=request.student.campus_id)),
    }
    return render(request, "portal/help.html", context)


@require_GET
@student_page
def help_article(request: StudentRequest, pk: int) -> HttpResponse:
    """One answer, with "this solved my problem" and the way on to customer service."""
    article = HelpArticle.objects.filter(pk=pk, is_published=True).first()
    if article is None:
        raise Http404("No such answer.")
    return render(request, "portal/help_article.html", {"article": article})


@require_POST
@student_page
def help_article_solved_view(request: StudentRequest, pk: int) -> HttpResponse:
    """这解决了我的问题: counted once per student (a ticket she did not need to open)."""
    if not HelpArticle.objects.filter(pk=pk, is_published=True).exists():
        raise Http404("No such answer.")
    help_article_solved(article_id=pk, student=request.student)
    messages.success(request, _("Glad it helped. Thank you for telling us."))
    return redirect("portal:help_article", pk=pk)


@require_GET
@student_page
def ticket_answers(request: StudentRequest) -> HttpResponse:
    """The answers that match what she is typing into a ticket (a fragment the ticket form fetches)."""
    query = request.GET.get("q", "").strip()[:MAX_QUERY]
    articles = help_articles_search(query) if query else []
    return render(request, "portal/_answers.html", {"answers": articles})


urlpatterns = [
    path("help/", help_center, name="help"),
    path("help/answers/<int:pk>/", help_article, name="help_article"),
    path("help/answers/<int:pk>/solved/", help_article_solved_view, name="help_article_solved"),
    path("tickets/answers/", ticket_answers, name="ticket_answers"),
]
