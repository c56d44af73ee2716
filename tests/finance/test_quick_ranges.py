"""The export form's quick ranges (本月, 上月, 本季度, 上季度, 今年): Shanghai calendar days around
month, quarter and year boundaries, filled by the server for a link (?range=...) and offered to the
static script as data attributes."""

from __future__ import annotations

import datetime
import re
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from finance.periods import quick_range, shanghai_today

D = datetime.date


@pytest.mark.parametrize(
    ("today", "key", "first", "last"),
    [
        (D(2026, 12, 31), "this_month", D(2026, 12, 1), D(2026, 12, 31)),
        (D(2026, 2, 1), "this_month", D(2026, 2, 1), D(2026, 2, 28)),
        (D(2028, 2, 29), "this_month", D(2028, 2, 1), D(2028, 2, 29)),
        (D(2027, 1, 1), "last_month", D(2026, 12, 1), D(2026, 12, 31)),
        (D(2026, 3, 31), "last_month", D(2026, 2, 1), D(2026, 2, 28)),
        (D(2026, 12, 31), "this_quarter", D(2026, 10, 1), D(2026, 12, 31)),
        (D(2026, 4, 1), "this_quarter", D(2026, 4, 1), D(2026, 6, 30)),
        (D(2026, 3, 31), "this_quarter", D(2026, 1, 1), D(2026, 3, 31)),
        (D(2026, 1, 1), "last_quarter", D(2025, 10, 1), D(2025, 12, 31)),
        (D(2026, 7, 1), "last_quarter", D(2026, 4, 1), D(2026, 6, 30)),
        (D(2026, 12, 31), "this_year", D(2026, 1, 1), D(2026, 12, 31)),
        (D(2027, 1, 1), "this_year", D(2027, 1, 1), D(2027, 12, 31)),
    ],
)
def test_a_quick_range_covers_its_whole_period(today, key, first, last):
    assert quick_range(key, today=today) == (first, last)


def test_an_unknown_range_is_refused():
    with pytest.raises(KeyError):
        quick_range("next_century", today=D(2026, 12, 5))


def test_the_day_is_shanghai_s_not_utc_s():
    # 2026-12-31 16:30 UTC is already 2027-01-01 00:30 in Shanghai.
    now = datetime.datetime(2026, 12, 31, 16, 30, tzinfo=datetime.UTC)
    assert shanghai_today(now) == D(2027, 1, 1)
    assert quick_range("last_month", today=shanghai_today(now)) == (D(2026, 12, 1), D(2026, 12, 31))


@pytest.mark.usefixtures("shipped_data")
def test_a_range_link_opens_the_form_with_its_days_in_shanghai(client, finance):
    client.force_login(finance.user)
    url = reverse("admin:finance_exportjob_add")
    today = datetime.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    first, last = quick_range("last_quarter", today=today)
    page = client.get(url + "?range=last_quarter&report=vouchers").content.decode()
    plain = client.get(url).content.decode()
    assert re.search(rf'name="date_from"[^>]*value="{first:%Y-%m-%d}"', page)
    assert re.search(rf'name="date_to"[^>]*value="{last:%Y-%m-%d}"', page)
    assert re.search(r'id="range-last_quarter"[^>]*aria-current="true"', page, re.S)
    assert re.search(r'value="vouchers"[^>]*selected', page)
    # Every link carries its days for the script, and works as a plain link without it.
    assert 'href="?range=this_month"' in plain
    for key in ("this_month", "last_month", "this_quarter", "last_quarter", "this_year"):
        start, end = quick_range(key, today=today)
        assert f'data-range-from="{start:%Y-%m-%d}" data-range-to="{end:%Y-%m-%d}"' in plain
    assert "finance/export_ranges.js" in plain
    assert not re.search(r'name="date_from"[^>]*value="', plain)
    # Something unknown is ignored: the form opens empty.
    assert not re.search(r'name="date_from"[^>]*value="', client.get(url + "?range=bogus").content.decode())
