"""Every write of the refunds app, one function per use case.

``quoting``: what an order would get back, the what-if estimate, quote snapshots.
``requests``: the refund request's lifecycle, from submission to approval, and the clock.
"""

from .quoting import (
    RefundPolicyMissing,
    quote_snapshot_create,
    refund_policy_terms,
    refund_quote,
    refund_quote_estimate,
)
from .requests import (
    FiledForStudent,
    RefundActionError,
    exchange_request_open,
    filed_for_student,
    refund_adjust_amount,
    refund_appeal,
    refund_approve,
    refund_approve_directly,
    refund_cancel,
    refund_close_nothing_due,
    refund_mark_paying,
    refund_mark_payout_failed,
    refund_mark_refunded,
    refund_reject,
    refund_requests_expire,
    refund_resubmit,
    refund_return_for_info,
    refund_steps_escalate,
    refund_submit,
    refund_submit_for_student,
    student_order_for_request,
)

__all__ = [
    "FiledForStudent",
    "RefundActionError",
    "exchange_request_open",
    "filed_for_student",
    "RefundPolicyMissing",
    "quote_snapshot_create",
    "refund_adjust_amount",
    "refund_appeal",
    "refund_approve",
    "refund_approve_directly",
    "refund_cancel",
    "refund_close_nothing_due",
    "refund_mark_paying",
    "refund_mark_payout_failed",
    "refund_mark_refunded",
    "refund_policy_terms",
    "refund_quote",
    "refund_quote_estimate",
    "refund_reject",
    "refund_requests_expire",
    "refund_resubmit",
    "refund_return_for_info",
    "refund_steps_escalate",
    "refund_submit",
    "refund_submit_for_student",
    "student_order_for_request",
]
