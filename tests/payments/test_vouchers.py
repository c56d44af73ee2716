"""Voucher numbers: per month, from 1, no gaps and no duplicates however many payouts finish at once."""

import threading

import pytest
from django.db import connection
from django.utils import timezone

from orders.models import PaymentChannel
from payments.models import Voucher
from payments.services import payout_record_transfer

from .helpers import approved_request


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_transfers_recorded_at_once_get_numbers_one_to_twenty(
    campus, homeroom, finance, default_refund_policies
):
    from tests import factories

    requests = []
    for _ in range(20):
        student = factories.make_student(campus=campus)
        request, _payout = approved_request(
            student=student, homeroom=homeroom, campus=campus, channel=PaymentChannel.CARD
        )
        requests.append(request)
    barrier = threading.Barrier(len(requests))
    errors: list[BaseException] = []

    def record(request_id: int) -> None:
        try:
            barrier.wait()
            payout_record_transfer(
                request_id=request_id,
                actor=finance.user,
                bank_reference=f"BK{request_id}",
                transferred_on=timezone.localdate(),
            )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=record, args=(request.pk,)) for request in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    period = f"{timezone.localdate():%Y-%m}"
    assert sorted(Voucher.objects.filter(period=period).values_list("number", flat=True)) == list(range(1, 21))
