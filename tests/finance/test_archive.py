"""The dispute archive of a closed refund request: one ZIP with everything, for the people who may have it."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from decimal import Decimal
from urllib.parse import quote

import pytest
from django.contrib.messages import get_messages
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from finance.archive import ArchiveRefused, archive_entries
from finance.models import Receipt, VoucherLine
from notifications.models import Notification
from payments.models import PayoutExchange
from refunds.models import RefundEvidence, RefundRequest
from schoolops.models import StaffRole
from tests import factories
from tests.refunds.helpers import PDF, PNG, order_at, submit

from .helpers import paid_refund

pytestmark = pytest.mark.django_db

SCAN = PDF + bytes(range(256)) * 600  # larger than one chunk of the copy from storage
RECEIPT_PDF = b"%PDF-1.4\n% receipt\n%%EOF\n"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def refunded(shipped_data, campus, homeroom, finance, student) -> RefundRequest:
    """A request paid back by WeChat Pay, with two evidence files, its notifications and its voucher."""
    request, payout = paid_refund(campus=campus, homeroom=homeroom, finance=finance, student=student)
    for name, content, kind in (("诊断证明 2026.pdf", SCAN, "application/pdf"), ("住院/单据.png", PNG, "image/png")):
        RefundEvidence.objects.create(
            request=request,
            file=ContentFile(content, name=name),
            original_name=name,
            content_type=kind,
            size=len(content),
            sha256="ab" * 32,
        )
    PayoutExchange.objects.create(
        payout=payout,
        kind="query",
        outcome="succeeded",
        request_data={"out_refund_no": payout.payout_no},
        response_data={"status": "SUCCESS", "备注": "退款成功"},
        created_at=timezone.now(),
    )
    return request


def download(client, user, request: RefundRequest):
    client.force_login(user)
    return client.get(reverse("admin:refunds_refundrequest_archive", args=[request.pk]))


def opened(response) -> zipfile.ZipFile:
    assert response.status_code == 200, response.status_code
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def csv_rows(archive: zipfile.ZipFile, name: str) -> list[list[str]]:
    text = archive.read(name).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_finance_downloads_a_zip_named_after_the_request(client, finance, refunded):
    response = download(client, finance.user, refunded)
    assert response["Content-Type"] == "application/zip"
    disposition = response["Content-Disposition"]
    assert f"filename*=UTF-8''{quote(f'退费档案_{refunded.request_no}.zip')}" in disposition
    assert f'filename="refund_archive_{refunded.request_no}.zip"' in disposition
    names = opened(response).namelist()
    assert names[0] == "README.txt"
    for name in (
        "application.json",
        "application.txt",
        "quote.csv",
        "evidence/index.csv",
        "evidence/01_诊断证明 2026.pdf",
        "evidence/02_住院_单据.png",
        "decisions/steps.csv",
        "decisions/transitions.csv",
        "decisions/history.csv",
        "messages/notifications.csv",
        "payouts/payouts.csv",
        "payouts/exchanges.json",
        "vouchers/vouchers.csv",
    ):
        assert name in names


def test_the_readme_describes_every_file_in_chinese_and_english(client, finance, refunded):
    archive = opened(download(client, finance.user, refunded))
    readme = archive.read("README.txt").decode("utf-8")
    for name in archive.namelist()[1:]:
        assert name in readme
    assert "证明材料原件：诊断证明 2026.pdf" in readme
    assert "Evidence file as uploaded: 诊断证明 2026.pdf" in readme


def test_the_application_holds_the_request_as_stored(client, finance, refunded):
    archive = opened(download(client, finance.user, refunded))
    application = json.loads(archive.read("application.json"))
    assert application["request_no"] == refunded.request_no
    assert application["status"] == "refunded"
    assert application["student"] == {
        "name": "王小明",
        "student_no": refunded.student.student_no,
        "phone": "138****8000",
    }
    assert Decimal(application["approved_amount"]) == refunded.approved_amount
    assert Decimal(application["requested_amount"]) == refunded.requested_amount
    assert Decimal(application["order"]["amount_paid"]) == refunded.order.amount_paid
    assert application["course"]["name"] == refunded.order.course.name
    assert application["details"] == refunded.details
    text = archive.read("application.txt").decode("utf-8")
    assert "王小明" in text
    assert "138****8000" in text
    assert "13800138000" not in text
    assert f"¥{refunded.approved_amount}" in text


def test_the_quote_lines_are_those_of_the_request(client, finance, refunded):
    rows = csv_rows(opened(download(client, finance.user, refunded)), "quote.csv")
    lines = list(refunded.quote.lines.order_by("position"))
    assert len(rows) == len(lines) + 1
    assert [(row[2], Decimal(row[4])) for row in rows[1:]] == [(line.label, line.amount) for line in lines]


def test_the_evidence_files_are_identical_and_listed_with_their_original_names(client, finance, refunded):
    archive = opened(download(client, finance.user, refunded))
    assert archive.read("evidence/01_诊断证明 2026.pdf") == SCAN
    assert archive.read("evidence/02_住院_单据.png") == PNG
    index = csv_rows(archive, "evidence/index.csv")
    assert [row[:4] for row in index[1:]] == [
        ["evidence/01_诊断证明 2026.pdf", "诊断证明 2026.pdf", "application/pdf", str(len(SCAN))],
        ["evidence/02_住院_单据.png", "住院/单据.png", "image/png", str(len(PNG))],
    ]


def test_an_evidence_file_missing_from_storage_is_listed_not_fatal(client, finance, refunded):
    gone = refunded.evidence.get(content_type="image/png")
    gone.file.storage.delete(gone.file.name)
    archive = opened(download(client, finance.user, refunded))
    assert "evidence/02_住院_单据.png" not in archive.namelist()
    assert archive.read("evidence/01_诊断证明 2026.pdf") == SCAN
    assert csv_rows(archive, "evidence/index.csv")[2][1] == "住院/单据.png"


def test_the_decisions_are_the_steps_transitions_and_history_of_the_request(client, finance, refunded):
    archive = opened(download(client, finance.user, refunded))
    steps = csv_rows(archive, "decisions/steps.csv")[1:]
    assert len(steps) == refunded.steps.count()
    assert "孙老师" in {row[3] for row in steps}  # the homeroom teacher decided
    transitions = csv_rows(archive, "decisions/transitions.csv")[1:]
    assert [row[1] for row in transitions] == list(
        refunded.transitions.order_by("created_at", "pk").values_list("name", flat=True)
    )
    assert len(csv_rows(archive, "decisions/history.csv")) == refunded.history.count() + 1


def test_every_notification_is_listed_and_kept_as_sent(client, finance, refunded):
    notifications = list(Notification.objects.filter(refund_request=refunded).order_by("created_at", "pk"))
    assert notifications
    archive = opened(download(client, finance.user, refunded))
    rows = csv_rows(archive, "messages/notifications.csv")[1:]
    assert len(rows) == len(notifications)
    for row, message in zip(rows, notifications, strict=True):
        text = archive.read(row[0]).decode("utf-8")
        assert message.body in text
        assert message.channel in text
        assert row[9] == message.subject


def test_the_payout_and_the_gateways_answers_are_as_stored(client, finance, refunded):
    payout = refunded.payouts.get()
    archive = opened(download(client, finance.user, refunded))
    rows = csv_rows(archive, "payouts/payouts.csv")[1:]
    assert [(row[0], Decimal(row[2]), row[4]) for row in rows] == [
        (payout.payout_no, payout.amount, payout.gateway_refund_id)
    ]
    exchanges = json.loads(archive.read("payouts/exchanges.json"))
    assert [item["payout_no"] for item in exchanges] == [payout.payout_no]
    stored = list(payout.exchanges.order_by("created_at", "pk"))
    assert [(e["kind"], e["request"], e["response"]) for e in exchanges[0]["exchanges"]] == [
        (e.kind, e.request_data, e.response_data) for e in stored
    ]
    assert {"status": "SUCCESS", "备注": "退款成功"} in [e["response"] for e in exchanges[0]["exchanges"]]


def test_the_voucher_lines_balance_as_in_the_books(client, finance, refunded):
    lines = list(VoucherLine.objects.filter(voucher__payout__request=refunded).order_by("position"))
    assert lines
    rows = csv_rows(opened(download(client, finance.user, refunded)), "vouchers/vouchers.csv")[1:]
    assert [(row[0], row[7], Decimal(row[9] or 0), Decimal(row[10] or 0)) for row in rows] == [
        (line.voucher.code, line.account_code, line.debit, line.credit) for line in lines
    ]
    assert sum(Decimal(row[9] or 0) for row in rows) == sum(Decimal(row[10] or 0) for row in rows)


def test_the_e_receipt_is_included_when_one_was_issued(client, finance, refunded):
    receipt = Receipt.objects.create(
        request=refunded,
        payout=refunded.payouts.get(),
        number="DZ202612000001",
        file=ContentFile(RECEIPT_PDF, name="receipt.pdf"),
        sha256="cd" * 32,
        issued_at=timezone.now(),
    )
    archive = opened(download(client, finance.user, refunded))
    assert archive.read(f"receipt/{receipt.number}.pdf") == RECEIPT_PDF


def test_an_open_request_is_refused_with_a_message(client, finance, homeroom, campus, shipped_data):
    request = submit(
        order_at(student=factories.make_student(campus=campus), homeroom=homeroom, campus=campus, price="300.00")
    )
    response = download(client, finance.user, request)
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:refunds_refundrequest_change", args=[request.pk])
    assert request.request_no in str(next(iter(get_messages(response.wsgi_request))))
    with pytest.raises(ArchiveRefused):
        archive_entries(request)


@pytest.mark.parametrize("role", [StaffRole.CAMPUS_HEAD, StaffRole.OPERATIONS])
def test_campus_heads_and_head_office_may_download(client, campus, refunded, role):
    staff = factories.make_staff(role=role, campus=campus)
    assert "application.json" in opened(download(client, staff.user, refunded)).namelist()


def test_head_office_downloads_another_campus_request(client, other_campus, refunded):
    head_office = factories.make_head_office(role=StaffRole.OPERATIONS, campus=other_campus)
    assert download(client, head_office.user, refunded).status_code == 200


def test_finance_of_another_campus_gets_404(client, other_campus, refunded):
    other_finance = factories.make_staff(role=StaffRole.FINANCE, campus=other_campus)
    assert download(client, other_finance.user, refunded).status_code == 404


def test_a_homeroom_teacher_without_the_permission_gets_403(client, homeroom, refunded):
    assert download(client, homeroom.user, refunded).status_code == 403


def test_a_student_is_sent_to_the_admin_login(client, refunded):
    response = download(client, refunded.student.user, refunded)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_the_request_page_offers_the_archive_to_finance_only_when_closed(client, finance, homeroom, refunded):
    url = reverse("admin:refunds_refundrequest_change", args=[refunded.pk])
    archive_url = reverse("admin:refunds_refundrequest_archive", args=[refunded.pk])
    client.force_login(finance.user)
    assert archive_url in client.get(url).content.decode()
    client.force_login(homeroom.user)
    assert archive_url not in client.get(url).content.decode()


def test_the_request_page_of_an_open_request_has_no_archive_button(client, finance, homeroom, campus, shipped_data):
    request = submit(
        order_at(student=factories.make_student(campus=campus), homeroom=homeroom, campus=campus, price="300.00")
    )
    client.force_login(finance.user)
    page = client.get(reverse("admin:refunds_refundrequest_change", args=[request.pk])).content.decode()
    assert reverse("admin:refunds_refundrequest_archive", args=[request.pk]) not in page


def test_the_request_page_still_renders_with_a_receipt(client, finance, refunded):
    Receipt.objects.create(
        request=refunded,
        payout=refunded.payouts.get(),
        number="DZ202612000002",
        file=ContentFile(RECEIPT_PDF, name="receipt.pdf"),
        sha256="cd" * 32,
        issued_at=timezone.now(),
    )
    client.force_login(finance.user)
    response = client.get(reverse("admin:refunds_refundrequest_change", args=[refunded.pk]))
    assert response.status_code == 200
    assert response.context["receipt"].number == "DZ202612000002"
