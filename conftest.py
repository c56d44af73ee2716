"""Fixtures for the whole suite that concern the test process rather than the product's cast
(that is ``tests/conftest.py``).

DJANGO_DEBUG is not set here: conftest files load after pytest-django has imported the settings.
pyproject.toml sets it through pytest-env instead.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.utils import timezone

from payments.callbacks_refused import counter_keys


@pytest.fixture(autouse=True)
def _fresh_refused_callback_counters():
    """Refused gateway callbacks are counted per address and hour in the cache, which ``make test``
    keeps in Redis across runs: every test starts from zero for the test client's and the live
    server's address (127.0.0.1)."""
    cache.delete_many(counter_keys("127.0.0.1", at=timezone.now()))
    yield
