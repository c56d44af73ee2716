"""Fixtures of the student's pages."""

from __future__ import annotations

import pytest


@pytest.fixture
def logged_in(client, student):
    """The test client, logged in as the student."""
    client.force_login(student.user)
    return client
