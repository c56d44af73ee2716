""" "My exports" (我的导出) lists every export the user made, the ones streamed at once included:
three downloads are three rows, for that user only (it showed 0: only prepared jobs were kept)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from finance.models import ExportJob, ExportStatus
from tests import factories

from .helpers import EXPORT, body, csv_rows, grant, paid_refund

pytestmark = pytest.mark.usefixtures("shipped_data")


def _export(client, **data):
    return client.post(reverse("admin:finance_exportjob_add"), {"date_field": "paid", **data})


def _listed(client) -> int:
    page = client.get(reverse("admin:finance_exportjob_changelist")).content.decode()
    return page.count('<td class="field-row_count')  # one cell per row of the list


def test_three_downloads_are_three_exports_of_that_user(client, campus, homeroom, finance):
    paid_refund(campus=campus, homeroom=homeroom, finance=finance)
    client.force_login(finance.user)
    for report, fmt in (("ledger", "csv"), ("vouchers", "xlsx"), ("summary", "csv")):
        response = _export(client, report=report, format=fmt)
        assert response.status_code == 200 and response.streaming
        body(response)

    mine = ExportJob.objects.filter(requested_by=finance.user)
    assert mine.count() == 3
    assert set(mine.values_list("status", flat=True)) == {ExportStatus.DONE}
    assert _listed(client) == 3

    colleague = grant(factories.make_staff(role="finance", campus=campus).user)
    client.force_login(colleague)
    assert _listed(client) == 0
    _export(client, report="ledger", format="csv")
    assert _listed(client) == 1
    assert ExportJob.objects.filter(requested_by=finance.user).count() == 3


def test_a_streamed_export_downloads_again_from_my_exports(client, campus, homeroom, finance):
    _request, payout = paid_refund(campus=campus, homeroom=homeroom, finance=finance)
    client.force_login(finance.user)
    first = body(_export(client, report="ledger", format="csv"))
    job = ExportJob.objects.get(requested_by=finance.user)
    assert not job.file
    url = reverse("admin:finance_exportjob_download", args=[job.pk])
    assert url in client.get(reverse("admin:finance_exportjob_changelist")).content.decode()

    again = client.get(url)
    assert again.status_code == 200
    data = body(again)
    assert csv_rows(data) == csv_rows(first)
    assert payout.payout_no in data.decode("utf-8-sig")

    other = grant(factories.make_staff(role="finance", campus=campus).user, EXPORT)
    client.force_login(other)
    assert client.get(url).status_code == 404
