"""Fixtures of the students tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from students import events

from .order_helpers import NewsRecorder


@pytest.fixture
def news(monkeypatch) -> Iterator[NewsRecorder]:
    """The enrollment news writers of this test only: a recorder, registered as the upper floors do."""
    monkeypatch.setattr(events, "_writers", [])
    recorder = NewsRecorder()
    events.enrollment_news_writer(recorder)
    yield recorder
