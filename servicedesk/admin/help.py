"""The help center's answers (operations edit them; each save recuts the search words) and the
satisfaction ratings (read-only, the campus's own)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from schoolops.admin_mixins import ReadOnlyAdminMixin
from schoolops.scoping import CampusScopedAdminMixin

from ..helpcenter import help_article_index, with_solved_counts
from ..models import HelpArticle, Rating


@admin.register(HelpArticle)
class HelpArticleAdmin(SimpleHistoryAdmin):
    list_display = ("title", "section", "is_published", "solved_count", "updated_at")
    list_filter = ("section", "is_published")
    search_fields = ("title", "keywords", "body")
    fields = ("section", "title", "keywords", "body", "position", "is_published")

    def get_queryset(self, request: HttpRequest) -> QuerySet[HelpArticle]:
        return with_solved_counts(super().get_queryset(request))

    @admin.display(description=_("solved a problem"), ordering="solved_count")
    def solved_count(self, obj: HelpArticle) -> int:
        return getattr(obj, "solved_count", 0)

    def save_model(self, request: HttpRequest, obj: HelpArticle, form, change: bool) -> None:
        help_article_index(obj)
        super().save_model(request, obj, form, change)


@admin.register(Rating)
class RatingAdmin(CampusScopedAdminMixin, ReadOnlyAdminMixin, SimpleHistoryAdmin):
    list_display = ("created_at", "subject", "score", "staff", "campus", "student", "comment")
    list_filter = ("subject", "score", "campus")
    list_select_related = ("staff__user", "campus", "student__user")
    search_fields = ("comment", "student__user__name", "student__student_no")
    date_hierarchy = "created_at"
