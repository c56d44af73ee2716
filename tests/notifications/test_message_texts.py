"""Every shipped message, rendered for every event × channel × language with its sample values,
reads cleanly: no doubled punctuation ("。。", "）。，"), no placeholder left unfilled (Django's
"{{ }}"/"{% %}", gettext's "%(name)s", str.format's "{name}", a raw placeholder or event key such
as "student_name" or "refund.submitted"), no English left in a Chinese text's frame."""

from __future__ import annotations

import re

import pytest

from notifications.models import NotificationTemplate
from notifications.rendering import EVENTS, render

pytestmark = pytest.mark.django_db

DOUBLED = re.compile(r"[。，、；：！？]{2,}|[。！？][，、；]|）。，|，。|。\.")
# What a placeholder left unfilled looks like: Django's "{{ x }}" / "{% x %}", gettext's
# "%(x)s" (or half of it), str.format's "{x}", a snake_case name.
LEFTOVER = re.compile(r"\{\{|\}\}|\{%|%\}|%\(|\w\)s\b|\{\s*\w+\s*\}|\b[a-z]+(?:_[a-z]+)+\b")
# Latin words a Chinese text may carry besides the values filled in: brand and format names.
LATIN_WORDS_ALLOWED_IN_CHINESE = {"APP", "App", "PDF", "WeChat"}
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def rendered():
    for template in NotificationTemplate.objects.filter(is_active=True).order_by("event", "channel", "language"):
        if template.event not in EVENTS:
            continue
        sample = EVENTS[template.event].sample
        yield template, render(template.subject, sample) + "\n" + render(template.body, sample)


def _around(text: str, start: int, end: int) -> str:
    return f"…{text[max(0, start - 15) : end + 15]}…"


def test_every_shipped_message_reads_cleanly(shipped_data):
    problems = []
    event_key = re.compile("|".join(re.escape(key) for key in sorted(EVENTS, key=len, reverse=True)))
    for template, text in rendered():
        where = f"{template.event}/{template.channel}/{template.language}"
        for pattern in (DOUBLED, LEFTOVER, event_key):
            found = pattern.search(text)
            if found:
                problems.append(f"{where}: {_around(text, found.start(), found.end())}")
    assert not problems, "\n".join(problems)
    assert NotificationTemplate.objects.filter(event="ticket.received", channel="sms").exists()


def test_the_chinese_default_texts_carry_no_english_of_their_own(shipped_data):
    """Names, numbers and links come in through the values; what the template itself says is Chinese."""
    problems = []
    events, in_chinese = set(), set()
    for template, text in rendered():
        events.add(template.event)
        if template.language != "zh-hans":
            continue
        in_chinese.add(template.event)
        frame = text
        for value in sorted(EVENTS[template.event].sample.values(), key=len, reverse=True):
            frame = frame.replace(value, " ")
        for found in LATIN_WORD.finditer(frame):
            if found.group() not in LATIN_WORDS_ALLOWED_IN_CHINESE:
                where = f"{template.event}/{template.channel}"
                problems.append(f"{where}: {found.group()!r} in {_around(frame, found.start(), found.end())}")
    assert in_chinese == events and len(events) > 20, f"events without a Chinese text: {events - in_chinese}"
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "text",
    [
        "您的申请 {{ request_no }} 已提交",
        "您的申请 {% if x %} 已提交",
        "退款 %(amount)s 元",
        "退款 %(amount) 元",
        "退款 {amount} 元",
        "您好 student_name，",
        "事件 refund.submitted 已发生",
    ],
)
def test_a_placeholder_left_unfilled_is_caught(text):
    event_key = re.compile("|".join(re.escape(key) for key in EVENTS))
    assert LEFTOVER.search(text) or event_key.search(text)


def test_english_in_a_chinese_frame_is_caught():
    assert LATIN_WORD.search("您的退款 has been approved")
    assert not LATIN_WORD.search("退款 ¥1,599.20 已到账，预计 2026-03-02 至 2026-03-09")


@pytest.mark.parametrize(
    ("text", "tidy"),
    [
        ("驳回原因：时间冲突。，可申诉。", "驳回原因：时间冲突，可申诉。"),
        ("原因：上课冲突。。请补充", "原因：上课冲突。请补充"),
        ("（订单 NO1）。，请处理", "（订单 NO1），请处理"),
        ("能退吗？。", "能退吗？"),
        ("Reason: 时间冲突。. Appeal", "Reason: 时间冲突。 Appeal"),
        ("Reason: no time.. Appeal", "Reason: no time. Appeal"),
        ("Wait... then", "Wait... then"),
        ("一切正常。谢谢！", "一切正常。谢谢！"),
    ],
)
def test_punctuation_doubled_by_a_value_is_tidied(text, tidy):
    from notifications.rendering import tidy_punctuation

    assert tidy_punctuation(text) == tidy
