"""The help center's answers before a ticket: Chinese word segmentation with jieba, ranked by
PostgreSQL's full-text search (the words joined by spaces, the 'simple' configuration, title and
keywords weighted above the text), or by a plain count of shared words on SQLite (``make run``).

Students say the same thing in other words (退款 / 退费): a few synonyms are folded here, and each
article has a field of other words for it that operations keep.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache, reduce

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, QuerySet

from students.models import Student

from .models import ArticleSolved, HelpArticle

MAX_QUERY = 200
SUGGESTIONS = 5
# Words of the school's trade jieba's dictionary splits (到账 → 到 / 账).
DOMAIN_WORDS = (
    "到账",
    "退费",
    "换课",
    "原路退回",
    "回放",
    "课时",
    "班主任",
    "冷静期",
    "直播课",
    "开发票",
    "手续费",
    "工单",
)
# Other ways to say it → the word the articles use.
SYNONYMS = {"退款": "退费", "退钱": "退费", "换班": "换课", "转班": "换课", "发票": "开发票", "录像": "回放"}
_WORD = re.compile(r"^[\w]+$")


@lru_cache(maxsize=1)
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    for word in DOMAIN_WORDS:
        jieba.add_word(word)
    return jieba


def words(text: str) -> list[str]:
    """The searchable words of ``text``: jieba's search-mode cut, synonyms folded, one-character
    and punctuation pieces dropped, each word once, in order."""
    found: dict[str, None] = {}
    for piece in _jieba().cut_for_search((text or "")[:6000]):
        piece = piece.strip().lower()
        if len(piece) < 2 or not _WORD.match(piece):
            continue
        found.setdefault(SYNONYMS.get(piece, piece), None)
    return list(found)


def help_article_index(article: HelpArticle) -> None:
    """Keep the article's search words in step with its text (called by every save that edits it)."""
    article.heading_tokens = " ".join(words(f"{article.title} {article.keywords}"))
    article.search_tokens = " ".join(words(article.body))


def help_articles_search(query: str, *, limit: int = SUGGESTIONS) -> list[HelpArticle]:
    """The published articles that answer ``query`` best, best first (none for an empty query)."""
    terms = words((query or "")[:MAX_QUERY])
    if not terms:
        return []
    published = HelpArticle.objects.filter(is_published=True)
    if connection.vendor == "postgresql":
        return list(_ranked_in_postgres(published, terms)[:limit])
    return _ranked_in_python(published, terms)[:limit]


def _ranked_in_postgres(articles: QuerySet[HelpArticle], terms: list[str]) -> QuerySet[HelpArticle]:
    vector = SearchVector("heading_tokens", weight="A", config="simple") + SearchVector(
        "search_tokens", weight="B", config="simple"
    )
    query = reduce(lambda a, b: a | b, (SearchQuery(term, search_type="plain", config="simple") for term in terms))
    return articles.annotate(rank=SearchRank(vector, query)).filter(rank__gt=0).order_by("-rank", "position", "pk")


def _ranked_in_python(articles: QuerySet[HelpArticle], terms: list[str]) -> list[HelpArticle]:
    scored = []
    for article in articles:
        heading, body = set(article.heading_tokens.split()), set(article.search_tokens.split())
        score = sum(3 if term in heading else 1 for term in terms if term in heading or term in body)
        if score:
            scored.append((-score, article.position, article.pk, article))
    return [item[-1] for item in sorted(scored, key=lambda item: item[:3])]


def help_article_solved(*, article_id: int, student: Student) -> bool:
    """She says the article solved her problem; counted once per student. False if it was already."""
    if not HelpArticle.objects.filter(pk=article_id, is_published=True).exists():
        return False
    try:
        with transaction.atomic():
            ArticleSolved.objects.create(article_id=article_id, student=student)
    except IntegrityError:
        return False
    return True


def with_solved_counts(articles: QuerySet[HelpArticle]) -> QuerySet[HelpArticle]:
    return articles.annotate(solved_count=Count("solved"))
