"""A course exchange's files in its request's archive ZIP (``finance.archive``): the exchange as a
whole, the calculation she confirmed, the payments of the difference with the gateway's raw
answers. The refund parts (application, decisions, messages, payouts, vouchers) are the request's
own and already there."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.utils.translation import gettext_lazy

from finance.archive import ArchivePart, archive_json, archive_parts_provider
from finance.writers import Column, Kind, Row, csv_chunks
from payments.models import Collection
from refunds.models import RefundRequest, RequestKind

from .models import Exchange
from .services import PURPOSE

CALCULATION_COLUMNS = [
    Column(gettext_lazy("Line"), Kind.INT),
    Column(gettext_lazy("Item")),
    Column(gettext_lazy("Formula")),
    Column(gettext_lazy("Amount"), Kind.MONEY),
    Column(gettext_lazy("Explanation")),
]


@archive_parts_provider
def exchange_archive_parts(request: RefundRequest) -> list[ArchivePart]:
    if request.kind != RequestKind.EXCHANGE:
        return []
    exchange = (
        Exchange.objects.select_related("old_order__course", "target_course", "new_order__course", "policy")
        .filter(request=request)
        .first()
    )
    if exchange is None:
        return []
    collections = list(
        Collection.objects.filter(purpose=PURPOSE, purpose_id=exchange.pk).prefetch_related("exchanges", "events")
    )
    return [
        ArchivePart(
            "exchange/exchange.json",
            (
                "换课的全部信息：原订单、新课程、结转价值、差额、新订单、规则版本、学员评价。",
                "The exchange: old order, new course, value carried, difference, new order, policy version, rating.",
            ),
            lambda: archive_json(_exchange(exchange)),
        ),
        ArchivePart(
            "exchange/calculation.csv",
            ("学员确认的换课测算明细。", "The exchange calculation the student confirmed."),
            lambda: csv_chunks(CALCULATION_COLUMNS, _calculation_rows(exchange)),
        ),
        ArchivePart(
            "exchange/payments.json",
            (
                "补交差额的收款记录及与支付渠道的原始往来。",
                "The payments of the difference and the raw exchanges with the gateway.",
            ),
            lambda: archive_json([_collection(c) for c in collections]),
        ),
    ]


def _exchange(exchange: Exchange) -> dict[str, Any]:
    new = exchange.new_order
    return {
        "request_no": exchange.request.request_no,
        "status": exchange.status,
        "old_order": exchange.old_order.order_no,
        "old_course": exchange.old_order.course.name,
        "target_course": exchange.target_course.name,
        "target_course_code": exchange.target_course.code,
        "method": exchange.method,
        "carried_value": exchange.carried_value,
        "target_price": exchange.target_price,
        "refund_amount": exchange.refund_amount,
        "pay_amount": exchange.pay_amount,
        "pay_deadline": exchange.pay_deadline,
        "carried_lessons": exchange.carried_lessons,
        "quoted_at": exchange.quoted_at,
        "completed_at": exchange.completed_at,
        "closed_reason": exchange.closed_reason,
        "new_order": new.order_no if new else None,
        "new_order_amount_paid": new.amount_paid if new else None,
        "new_order_carried_in": new.carried_in if new else None,
        "policy": exchange.policy.name,
        "policy_version": exchange.policy_version,
        "policy_terms": exchange.policy_terms,
        "rating": exchange.rating,
        "rating_comment": exchange.rating_comment,
        "confirmed_at": exchange.confirmed_at,
    }


def _calculation_rows(exchange: Exchange) -> Iterator[Row]:
    for number, line in enumerate(exchange.lines, start=1):
        yield (number, line["label"], line["formula"], line["amount"], line["explanation"])


def _collection(collection: Collection) -> dict[str, Any]:
    return {
        "collection_no": collection.collection_no,
        "channel": collection.channel,
        "mode": collection.mode,
        "amount": collection.amount,
        "status": collection.status,
        "gateway_trade_no": collection.gateway_trade_no,
        "paid_at": collection.paid_at,
        "paid_amount": collection.paid_amount,
        "refund_no": collection.refund_no,
        "events": [{"kind": e.kind, "at": e.created_at, "payload": e.payload} for e in collection.events.all()],
        "gateway": [
            {
                "kind": x.kind,
                "outcome": x.outcome,
                "sent": x.request_data,
                "received": x.response_data,
                "at": x.created_at,
            }
            for x in collection.exchanges.all()
        ],
    }
