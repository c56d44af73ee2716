"""Stamped paper copies of e-receipts: the student asks on her request page, her campus's finance
gets the task, marks it mailed (the student is told the tracking number) or cancels it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from finance.events import PAPER_COPY_MAILED, PAPER_COPY_REQUESTED
from finance.models import PaperCopyRequest, PaperCopyStatus
from finance.receipts import ReceiptError, paper_copy_mark_mailed, paper_copy_request, receipt_issue
from notifications.models import Notification
from schoolops.models import StaffRole
from tests import factories
from tests.finance.helpers import paid_refund

ADDRESS = {"recipient": "王小明", "phone": "13800138000", "address": "上海市浦东新区世纪大道 100 号 5 楼", "note": ""}


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def refunded(shipped_data, campus, homeroom, finance):
    request, _payout = paid_refund(campus=campus, homeroom=homeroom, finance=finance, name="王小明")
    return request


@pytest.fixture
def receipt(refunded):
    return receipt_issue(request_id=refunded.pk)


@pytest.fixture
def paper(receipt):
    return paper_copy_request(receipt=receipt, student_user=receipt.request.student.user, **ADDRESS)


def _page(request) -> str:
    return reverse("portal:request", args=[request.request_no])


def _ask(request) -> str:
    return reverse("portal:paper_copy", args=[request.request_no])


# --- The student asks ----------------------------------------------------------------------------


def test_request_page_offers_the_form_prefilled_with_her_name_and_phone(client, refunded):
    user = refunded.student.user
    client.force_login(user)

    page = client.get(_page(refunded)).content.decode()

    assert f'action="{_ask(refunded)}"' in page
    assert f'value="{user.name}"' in page
    assert f'value="{user.phone}"' in page
    assert "csrfmiddlewaretoken" in page


def test_asking_creates_the_task_and_tells_the_campus_finance(client, refunded, finance, other_campus):
    factories.make_staff(role=StaffRole.FINANCE, campus=other_campus)
    finance.user.email = "finance@example.com"
    finance.user.save(update_fields=["email"])
    client.force_login(refunded.student.user)

    response = client.post(_ask(refunded), ADDRESS)

    assert response.status_code == 302
    paper = PaperCopyRequest.objects.get()
    assert (paper.receipt.request_id, paper.status, paper.address) == (
        refunded.pk,
        PaperCopyStatus.REQUESTED,
        ADDRESS["address"],
    )
    told = Notification.objects.filter(event=PAPER_COPY_REQUESTED)
    assert {(n.recipient_id, n.channel) for n in told} == {(finance.user_id, "inbox"), (finance.user_id, "email")}
    inbox = told.get(channel="inbox")
    assert inbox.refund_request_id == refunded.pk
    assert reverse("admin:finance_papercopyrequest_change", args=[paper.pk]) in inbox.link
    assert ADDRESS["address"] in inbox.body and refunded.request_no in inbox.body


def test_a_second_open_request_is_refused_with_a_message(client, paper):
    refund = paper.receipt.request
    client.cookies["django_language"] = "en"
    client.force_login(refund.student.user)

    response = client.post(_ask(refund), ADDRESS, follow=True)

    assert PaperCopyRequest.objects.count() == 1
    assert "already requested" in " ".join(str(m) for m in response.context["messages"])


def test_the_service_refuses_a_second_open_request(paper):
    with pytest.raises(ReceiptError) as refused:
        paper_copy_request(receipt=paper.receipt, student_user=paper.receipt.request.student.user, **ADDRESS)
    assert refused.value.code == "open_request"


@pytest.mark.parametrize(
    ("field", "value"), [("address", ""), ("address", "上海"), ("phone", "call me"), ("recipient", "")]
)
def test_an_incomplete_form_is_shown_again_with_the_error(client, refunded, field, value):
    client.cookies["django_language"] = "en"
    client.force_login(refunded.student.user)

    response = client.post(_ask(refunded), {**ADDRESS, field: value})

    assert response.status_code == 400
    assert response.context["paper_copy_form"].errors[field]
    assert 'class="errorlist' in response.content.decode()
    assert not PaperCopyRequest.objects.exists()


def test_another_student_cannot_ask_for_her_copy(client, refunded, other_student):
    client.force_login(other_student.user)

    assert client.post(_ask(refunded), ADDRESS).status_code == 404
    assert not PaperCopyRequest.objects.exists()


def test_the_service_refuses_someone_elses_receipt(receipt, other_student):
    with pytest.raises(ReceiptError):
        paper_copy_request(receipt=receipt, student_user=other_student.user, **ADDRESS)
    assert not PaperCopyRequest.objects.exists()


def test_a_request_not_refunded_gets_no_paper_copy(client, shipped_data, student, order):
    from tests.refunds.helpers import submit

    request = submit(order)
    client.force_login(student.user)

    client.post(_ask(request), ADDRESS)

    assert not PaperCopyRequest.objects.exists()
    assert f'action="{_ask(request)}"' not in client.get(_page(request)).content.decode()


def test_the_page_shows_the_waiting_request_instead_of_the_form(client, paper):
    refund = paper.receipt.request
    client.force_login(refund.student.user)

    page = client.get(_page(refund)).content.decode()

    assert f'action="{_ask(refund)}"' not in page
    assert ADDRESS["address"] in page


# --- Finance handles it --------------------------------------------------------------------------


def _mailed(paper) -> str:
    return reverse("admin:finance_papercopyrequest_mailed", args=[paper.pk])


def _cancel(paper) -> str:
    return reverse("admin:finance_papercopyrequest_cancel", args=[paper.pk])


def test_finance_marks_it_mailed_and_the_student_is_told(client, paper, finance):
    client.force_login(finance.user)
    assert client.get(_mailed(paper)).status_code == 200

    response = client.post(_mailed(paper), {"carrier": "顺丰速运", "tracking_no": "SF1234567890"})

    assert response.status_code == 302
    paper.refresh_from_db()
    assert (paper.status, paper.carrier, paper.tracking_no) == (PaperCopyStatus.MAILED, "顺丰速运", "SF1234567890")
    assert (paper.handled_by_id, paper.handled_at is not None) == (finance.user_id, True)
    student_user = paper.receipt.request.student.user
    told = Notification.objects.filter(event=PAPER_COPY_MAILED)
    assert {n.recipient_id for n in told} == {student_user.pk}
    assert {"inbox", "email"} <= {n.channel for n in told}
    assert "SF1234567890" in told.get(channel="inbox").body


def test_the_student_page_shows_the_tracking_number(client, paper, finance):
    paper_copy_mark_mailed(paper_copy_id=paper.pk, actor=finance.user, carrier="EMS", tracking_no="EA123456789CN")
    refund = paper.receipt.request
    client.force_login(refund.student.user)

    page = client.get(_page(refund)).content.decode()

    assert "EA123456789CN" in page
    assert f'action="{_ask(refund)}"' in page  # she may ask for another copy


def test_mailed_needs_a_tracking_number(client, paper, finance):
    client.force_login(finance.user)

    response = client.post(_mailed(paper), {"carrier": "EMS", "tracking_no": ""})

    assert response.status_code == 200
    assert response.context["form"].errors["tracking_no"]
    paper.refresh_from_db()
    assert paper.status == PaperCopyStatus.REQUESTED


def test_a_handled_request_cannot_be_mailed_twice(paper, finance):
    paper_copy_mark_mailed(paper_copy_id=paper.pk, actor=finance.user, carrier="EMS", tracking_no="EA1")

    with pytest.raises(ReceiptError) as refused:
        paper_copy_mark_mailed(paper_copy_id=paper.pk, actor=finance.user, carrier="EMS", tracking_no="EA2")

    assert refused.value.code == "state"
    paper.refresh_from_db()
    assert paper.tracking_no == "EA1"


def test_finance_cancels_with_a_note_the_student_sees(client, paper, finance):
    client.force_login(finance.user)

    client.post(_cancel(paper), {"note": "地址不完整，请重新申请"})

    paper.refresh_from_db()
    assert (paper.status, paper.finance_note) == (PaperCopyStatus.CANCELLED, "地址不完整，请重新申请")
    client.force_login(paper.receipt.request.student.user)
    assert "地址不完整，请重新申请" in client.get(_page(paper.receipt.request)).content.decode()


def test_a_cancel_without_a_note_is_refused(client, paper, finance):
    client.force_login(finance.user)

    response = client.post(_cancel(paper), {"note": ""})

    assert response.context["form"].errors["note"]
    paper.refresh_from_db()
    assert paper.status == PaperCopyStatus.REQUESTED


def test_campus_head_sees_the_task_but_may_not_handle_it(client, paper, campus_head):
    client.force_login(campus_head.user)

    assert client.get(reverse("admin:finance_papercopyrequest_change", args=[paper.pk])).status_code == 200
    assert client.post(_mailed(paper), {"carrier": "EMS", "tracking_no": "EA1"}).status_code == 403
    with pytest.raises(ReceiptError):
        paper_copy_mark_mailed(paper_copy_id=paper.pk, actor=campus_head.user, carrier="EMS", tracking_no="EA1")
    paper.refresh_from_db()
    assert paper.status == PaperCopyStatus.REQUESTED


def test_finance_of_another_campus_gets_404(client, paper, other_campus):
    other_finance = factories.make_staff(role=StaffRole.FINANCE, campus=other_campus)
    client.force_login(other_finance.user)

    assert client.get(reverse("admin:finance_papercopyrequest_change", args=[paper.pk])).status_code == 404
    assert client.post(_mailed(paper), {"carrier": "EMS", "tracking_no": "EA1"}).status_code == 404
    assert client.post(_cancel(paper), {"note": "x"}).status_code == 404
    paper.refresh_from_db()
    assert paper.status == PaperCopyStatus.REQUESTED


def test_task_list_shows_waiting_requests_first(client, shipped_data, campus, homeroom, finance):
    papers = []
    for name in ("甲", "乙", "丙"):
        request, _ = paid_refund(campus=campus, homeroom=homeroom, finance=finance, name=name)
        receipt = receipt_issue(request_id=request.pk)
        papers.append(paper_copy_request(receipt=receipt, student_user=request.student.user, **ADDRESS))
    paper_copy_mark_mailed(paper_copy_id=papers[0].pk, actor=finance.user, carrier="EMS", tracking_no="EA1")
    client.force_login(finance.user)

    response = client.get(reverse("admin:finance_papercopyrequest_changelist"))

    assert response.status_code == 200
    listed = [p.pk for p in response.context["cl"].result_list]
    assert listed == [papers[1].pk, papers[2].pk, papers[0].pk]
    assert _mailed(papers[1]) in response.content.decode()
    assert _mailed(papers[0]) not in response.content.decode()
