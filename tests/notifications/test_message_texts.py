"""Every shipped message, rendered for every event × channel × language with its sample values,
reads cleanly: no doubled punctuation ("。。", "）。，"), no placeholder left unfilled, no English
left in a Chinese text's frame."""

from __future__ import annotations

import re

import pytest

from notifications.models import NotificationTemplate
from notifications.rendering import EVENTS, render

pytestmark = pytest.mark.django_db

DOUBLED = re.compile(r"[。，、；：！？]{2,}|[。！？][，、；]|）。，|，。|。\.")
LEFTOVER = re.compile(r"\{\{|\}\}|\{%|%\)s|%\(\w+\)")


def rendered():
    for template in NotificationTemplate.objects.filter(is_active=True).order_by("event", "channel", "language"):
        if template.event not in EVENTS:
            continue
        sample = EVENTS[template.event].sample
        yield template, render(template.subject, sample) + "\n" + render(template.body, sample)


def test_every_shipped_message_reads_cleanly(shipped_data):
    problems = []
    for template, text in rendered():
        where = f"{template.event}/{template.channel}/{template.language}"
        for pattern in (DOUBLED, LEFTOVER):
            found = pattern.search(text)
            if found:
                start = max(0, found.start() - 15)
                problems.append(f"{where}: …{text[start : found.end() + 15]}…")
    assert not problems, "\n".join(problems)
    assert NotificationTemplate.objects.filter(event="ticket.received", channel="sms").exists()


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
