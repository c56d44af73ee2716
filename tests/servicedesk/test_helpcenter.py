"""Answers before a ticket: Chinese questions find the help center's articles (jieba's words,
PostgreSQL's ranking; the simple ranking of make run's SQLite), and students say which solved it."""

from __future__ import annotations

import pytest

from servicedesk.helpcenter import (
    _ranked_in_python,
    help_article_index,
    help_article_solved,
    help_articles_search,
    with_solved_counts,
    words,
)
from servicedesk.models import ArticleSolved, HelpArticle, HelpSection

pytestmark = pytest.mark.django_db

ARRIVAL = "申请退费后多久能到账？"


def test_words_are_cut_with_the_schools_vocabulary_and_synonyms():
    assert words("退款多久到账") == ["退费", "多久", "到账"]
    cut = words("直播课回放打不开怎么办？")
    assert {"直播课", "回放", "打不开", "怎么办"} <= set(cut) and len(cut) == len(set(cut))
    assert all(len(word) >= 2 for word in cut)
    assert words("  ，。!! ") == []


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("退款多久到账", ARRIVAL),
        ("钱什么时候退回来", ARRIVAL),
        ("回放看不了", "直播课回放在哪里看？打不开怎么办？"),
        ("想转班到下一期", "可以换课或者转到其他班吗？"),
        ("报销要开发票", "如何开具发票？"),
    ],
)
def test_the_seeded_articles_answer_the_students_words(question, expected):
    found = help_articles_search(question)
    assert found and found[0].title == expected, [a.title for a in found]


def test_nothing_for_nothing_and_unpublished_articles_are_not_offered():
    assert help_articles_search("") == [] and help_articles_search("，，") == []
    HelpArticle.objects.filter(title=ARRIVAL).update(is_published=False)
    assert ARRIVAL not in [a.title for a in help_articles_search("退款多久到账")]


def test_the_simple_ranking_of_sqlite_puts_the_question_above_the_text():
    body_only = HelpArticle(title="其他问题", section=HelpSection.ACCOUNT, body="到账以后会通知")
    in_title = HelpArticle(title="多久到账", section=HelpSection.REFUNDS, body="见下文")
    for article in (body_only, in_title):
        help_article_index(article)
        article.save()
    ranked = _ranked_in_python(HelpArticle.objects.filter(pk__in=[body_only.pk, in_title.pk]), words("到账"))
    assert ranked == [in_title, body_only]


def test_an_article_that_solved_it_is_counted_once_per_student(student, other_student):
    article = HelpArticle.objects.get(title=ARRIVAL)
    assert help_article_solved(article_id=article.pk, student=student) is True
    assert help_article_solved(article_id=article.pk, student=student) is False
    assert help_article_solved(article_id=article.pk, student=other_student) is True
    assert ArticleSolved.objects.count() == 2
    assert with_solved_counts(HelpArticle.objects.filter(pk=article.pk)).get().solved_count == 2
