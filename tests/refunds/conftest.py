"""Refund tests assert on the English msgids; the Chinese .po translates them for users."""

from __future__ import annotations

import pytest
from django.utils import translation


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield
