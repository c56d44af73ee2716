"""Builders and addresses for the approval admin tests (queue, request page, decisions, scope)."""

from __future__ import annotations

from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from refunds.admin.decisions import ADJUST, APPROVE, REJECT, RETURN

from .lifecycle_helpers import order_at, submit

QUEUE_URL = reverse("admin:refunds_approvalqueueitem_changelist")
LIST_URL = reverse("admin:refunds_refundrequest_changelist")
# A valid POST of each decision's form.
DECISION_DATA = {
    APPROVE: {"comment": "同意退费。"},
    REJECT: {"reason": "已超过退费期限。"},
    RETURN: {"missing": "请补充医院诊断证明。"},
    ADJUST: {"amount": "800.00", "reason": "扣除已发放的教材费用。"},
}


def zh(msgid: str) -> str:
    """What a page in the default language shows for ``msgid`` (the English msgid until it is translated)."""
    with translation.override("zh-hans"):
        return gettext(msgid)


def page_url(refund) -> str:
    return reverse("admin:refunds_refundrequest_change", args=[refund.pk])


def history_url(refund) -> str:
    return reverse("admin:refunds_refundrequest_history", args=[refund.pk])


def decide_url(refund, action: str) -> str:
    return reverse("admin:refunds_refundrequest_decide", args=[refund.pk, action])


def queue_row_url(refund) -> str:
    return reverse("admin:refunds_approvalqueueitem_change", args=[refund.pk])


def bulk_data(*refunds, confirm: bool = True, comment: str = "") -> dict:
    """The POST of the bulk approval: the action on the selected rows, confirmed or not."""
    data = {"action": "approve_small_requests", "_selected_action": [str(r.pk) for r in refunds]}
    if confirm:
        data |= {"post": "yes", "comment": comment}
    else:
        data["index"] = "0"
    return data


def submitted(*, student, homeroom, campus, price: str = "1000.00", count: int = 1, **kwargs) -> list:
    """``count`` requests of ``student``, one order each, submitted one after the other."""
    return [
        submit(order_at(student=student, homeroom=homeroom, campus=campus, price=price), **kwargs) for _ in range(count)
    ]


def queue_rows(response) -> list:
    """The requests listed on a queue (or request list) page, in order."""
    return list(response.context["cl"].result_list)
