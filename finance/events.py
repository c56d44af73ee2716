"""The finance events staff are told about, through the generic notifier."""

from django.utils.translation import gettext_lazy as _

from notifications.rendering import event_register

RECONCILIATION_MISMATCH = "finance.reconciliation_mismatch"
PAPER_COPY_REQUESTED = "finance.paper_copy_requested"
PAPER_COPY_MAILED = "finance.paper_copy_mailed"
EXPORT_READY = "finance.export_ready"

event_register(
    RECONCILIATION_MISMATCH,
    label=_("Statement reconciliation found differences"),
    placeholders=("recipient_name", "channel", "date", "amount", "reason", "link", "contact"),
    sample={"reason": "金额不符 1 笔，对账单有而系统无 1 笔，系统有而对账单无 2 笔", "date": "2026-03-01"},
)
event_register(
    PAPER_COPY_REQUESTED,
    label=_("Stamped paper receipt requested"),
    placeholders=("recipient_name", "student_name", "request_no", "order_no", "course", "reason", "link", "contact"),
    sample={"reason": "上海市浦东新区世纪大道 100 号 王小明 13800000001"},
)
event_register(
    PAPER_COPY_MAILED,
    label=_("Stamped paper receipt mailed"),
    placeholders=("recipient_name", "student_name", "request_no", "order_no", "course", "reason", "link", "contact"),
    sample={"reason": "顺丰速运 SF1234567890"},
)
event_register(
    EXPORT_READY,
    label=_("Export ready for download"),
    placeholders=("recipient_name", "reason", "date", "link", "contact"),
    sample={"reason": "退款台账 2026-03-01 至 2026-03-31（CSV，12,345 行）"},
)
