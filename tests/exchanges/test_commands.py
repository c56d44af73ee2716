"""The exchanges' clock as a command, for ``make run`` (no beat there)."""

import io

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_settle_exchanges_runs_the_clock_once():
    out = io.StringIO()
    call_command("settle_exchanges", stdout=out)
    assert out.getvalue().splitlines() == ["exchanges moved or lapsed: 0", "payment codes expired: 0"]
