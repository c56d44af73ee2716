"""The outbox: rows written with their event, one per (event, channel, recipient), sent with retries."""

from __future__ import annotations

import datetime
import time

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications.channels.base import Attachment, Recipient, RetryPolicy
from notifications.models import InboxMessage, Notification, NotificationStatus
from notifications.services import (
    Outcome,
    notification_deliver,
    notifications_deliver,
    notifications_enqueue,
    notifications_for_refund_event,
    notifications_resend,
    notifications_send_pending,
    notify,
    outbox,
)
from refunds.models import RefundEvent
from schoolops.celery import app as celery_app
from tests.refunds.helpers import order_at, submit

from .helpers import fresh_broker_connections, permanent, temporary

pytestmark = pytest.mark.django_db


@pytest.fixture
def refund(channels, student, homeroom, campus):
    return submit(order_at(student=student, homeroom=homeroom, campus=campus, price="300.00"))


def later(minutes: int = 60) -> datetime.datetime:
    return timezone.now() + datetime.timedelta(minutes=minutes)


def test_the_rows_are_written_in_the_events_transaction(channels, student, homeroom, campus):
    order = order_at(student=student, homeroom=homeroom, campus=campus, price="300.00")
    with pytest.raises(RuntimeError), transaction.atomic():
        submit(order)
        assert Notification.objects.exists()
        raise RuntimeError("the request fails after the submission")
    assert not Notification.objects.exists()
    assert not RefundEvent.objects.exists()


def test_the_event_is_marked_handled_when_its_rows_are_written(refund):
    assert not RefundEvent.objects.filter(request=refund, handled_at__isnull=True).exists()


def test_handling_an_event_twice_writes_nothing_new(refund):
    event = RefundEvent.objects.get(request=refund, kind="submitted")
    before = sorted(Notification.objects.values_list("pk", "channel", "recipient_key"))
    notifications_for_refund_event(event=event)
    notifications_for_refund_event(event=event)
    assert sorted(Notification.objects.values_list("pk", "channel", "recipient_key")) == before


def test_after_the_commit_each_row_is_delivered_once(
    channels, student, homeroom, campus, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        refund = submit(order_at(student=student, homeroom=homeroom, campus=campus, price="300.00"))
    assert set(Notification.objects.values_list("status", flat=True)) == {NotificationStatus.SENT}
    inbox = InboxMessage.objects.get(recipient=student.user, refund_request=refund)
    assert inbox.delivery.event == "refund.submitted"
    assert [m.recipient.email for m in channels["email"].sent] == [student.user.email]
    assert [m.recipient.phone for m in channels["sms"].sent] == [student.user.phone]
    # Delivering a sent row again sends nothing.
    row = Notification.objects.get(channel="sms")
    assert notification_deliver(notification_id=row.pk, now=later()) == (Outcome.SKIPPED, None)
    assert len(channels["sms"].sent) == 1
    assert InboxMessage.objects.filter(recipient=student.user).count() == 1


def test_a_channel_that_fails_twice_then_succeeds_is_sent_on_the_third_attempt(channels, refund):
    channels["sms"].failures.extend([temporary("timeout"), temporary("provider busy")])
    row = Notification.objects.get(refund_request=refund, channel="sms")
    outcome, wait = notification_deliver(notification_id=row.pk)
    assert outcome == Outcome.RETRY and 15 <= wait <= 30  # SMS: 30 s first, with jitter
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == (NotificationStatus.QUEUED, 1, "[busy] timeout")
    assert row.next_attempt_at > timezone.now()
    # Not due yet: a second worker (or the beat job) leaves it alone.
    assert notification_deliver(notification_id=row.pk)[0] == Outcome.SKIPPED
    outcome, second_wait = notification_deliver(notification_id=row.pk, now=later())
    assert outcome == Outcome.RETRY and 30 <= second_wait <= 60  # doubled
    assert notification_deliver(notification_id=row.pk, now=later(120)) == (Outcome.SENT, None)
    row.refresh_from_db()
    assert (row.status, row.attempts, row.provider_id) == (NotificationStatus.SENT, 3, f"sms-{row.pk}")
    assert row.sent_at is not None
    assert len(channels["sms"].sent) == 1


def test_a_permanent_failure_is_recorded_and_not_retried(channels, refund):
    channels["sms"].failures.append(permanent("number does not exist"))
    row = Notification.objects.get(refund_request=refund, channel="sms")
    assert notification_deliver(notification_id=row.pk) == (Outcome.FAILED, None)
    row.refresh_from_db()
    assert row.status == NotificationStatus.FAILED
    assert row.last_error == "[bad-number] number does not exist"
    assert notification_deliver(notification_id=row.pk, now=later())[0] == Outcome.SKIPPED
    assert notifications_send_pending(now=later(), grace_seconds=0) == 3  # the other queued rows only


def test_a_channel_that_keeps_failing_is_given_up_after_its_attempts(channels, refund):
    channels["email"].failures.extend([temporary()] * 10)
    row = Notification.objects.get(refund_request=refund, channel="email")
    for n in range(6):
        outcome, _wait = notification_deliver(notification_id=row.pk, now=later(60 * (n + 1)))
    assert outcome == Outcome.FAILED
    row.refresh_from_db()
    assert row.status == NotificationStatus.FAILED and row.attempts == 6
    assert row.last_error.startswith("Gave up after 6 attempts")


def test_the_channel_says_how_often_and_how_long_apart_it_is_tried(channels, refund, monkeypatch):
    monkeypatch.setattr(channels["sms"], "retry", RetryPolicy(attempts=2, first_wait=4, max_wait=4))
    channels["sms"].failures.extend([temporary(), temporary()])
    row = Notification.objects.get(refund_request=refund, channel="sms")
    outcome, wait = notification_deliver(notification_id=row.pk)
    assert outcome == Outcome.RETRY and 2 <= wait <= 4
    assert notification_deliver(notification_id=row.pk, now=later()) == (Outcome.FAILED, None)
    row.refresh_from_db()
    assert row.last_error.startswith("Gave up after 2 attempts")


def test_the_channel_says_which_errors_are_worth_another_attempt(channels, refund, monkeypatch):
    monkeypatch.setattr(channels["sms"], "is_transient", lambda self, error: not isinstance(error, LookupError))
    channels["sms"].failures.extend([RuntimeError("connection reset"), LookupError("no such template")])
    row = Notification.objects.get(refund_request=refund, channel="sms")
    assert notification_deliver(notification_id=row.pk)[0] == Outcome.RETRY  # unexpected: outcome unknown
    assert notification_deliver(notification_id=row.pk, now=later()) == (Outcome.FAILED, None)
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == (NotificationStatus.FAILED, 2, "no such template")


def test_a_failed_row_can_be_sent_again(channels, refund, django_capture_on_commit_callbacks):
    channels["sms"].failures.append(permanent())
    row = Notification.objects.get(refund_request=refund, channel="sms")
    notification_deliver(notification_id=row.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert notifications_resend(ids=[row.pk]) == 1
    row.refresh_from_db()
    assert row.status == NotificationStatus.SENT


def test_the_beat_job_sends_what_is_still_queued(channels, refund, student):
    assert Notification.objects.filter(status=NotificationStatus.QUEUED).count() == 4  # 3 student + 1 approver
    assert notifications_send_pending(grace_seconds=0) == 4
    assert set(Notification.objects.values_list("status", flat=True)) == {NotificationStatus.SENT}
    assert InboxMessage.objects.filter(recipient=student.user).count() == 1


def test_a_row_left_sending_by_a_dead_worker_is_picked_up_after_its_lease(channels, refund):
    row = Notification.objects.get(refund_request=refund, channel="email")
    Notification.objects.filter(pk=row.pk).update(status=NotificationStatus.SENDING, lease_until=timezone.now())
    assert notification_deliver(notification_id=row.pk, now=later())[0] == Outcome.SENT


def test_a_broker_that_is_down_leaves_the_rows_queued_without_raising(refund):
    saved = {key: celery_app.conf[key] for key in ("broker_url", "task_always_eager")}
    celery_app.conf.update(broker_url="redis://127.0.0.1:1/0", task_always_eager=False)
    fresh_broker_connections()
    try:
        key = f"refund-event:{refund.events.get(kind='submitted').pk}"
        assert notifications_enqueue(dedupe_key=key) == 0
        started = time.monotonic()
        assert notifications_enqueue(dedupe_key=key) == 0  # not tried again for a while: no wait
        assert time.monotonic() - started < 0.5
    finally:
        celery_app.conf.update(saved)
        fresh_broker_connections()
    assert Notification.objects.filter(status=NotificationStatus.QUEUED).count() == 4


def test_later_features_send_through_notify(channels, student, operations, django_capture_on_commit_callbacks):
    from notifications.models import NotificationTemplate
    from notifications.rendering import event_register

    event_register("test.alert", label="Alert", placeholders=("recipient_name", "course"))
    NotificationTemplate.objects.create(
        event="test.alert",
        channel="inbox",
        language="zh-hans",
        subject="提醒：{{ course }}",
        body="{{ recipient_name }}，请注意。",
    )
    recipient = Recipient(user_id=operations.user.pk, name="周运营")
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            notify(
                key="alert:1",
                event="test.alert",
                recipients=[recipient],
                context={"course": "Python"},
                channels=["inbox"],
            )
            == 1
        )
        notify(
            key="alert:1", event="test.alert", recipients=[recipient], context={"course": "Python"}, channels=["inbox"]
        )
    message = InboxMessage.objects.get(recipient=operations.user)
    assert (message.subject, message.body) == ("提醒：Python", "周运营，请注意。")
    assert Notification.objects.filter(dedupe_key="alert:1").count() == 1


def test_attachments_go_only_on_the_channels_that_carry_files(channels, operations, django_capture_on_commit_callbacks):
    from notifications.models import NotificationTemplate
    from notifications.rendering import event_register

    event_register("test.report", label="Report", placeholders=("recipient_name",))
    for channel in ("inbox", "email"):
        NotificationTemplate.objects.create(
            event="test.report",
            channel=channel,
            language="zh-hans",
            subject="Report",
            body="{{ recipient_name }}: attached.",
        )
    pdf = Attachment(storage_name="weekly-reviews/2026/03/a.pdf", file_name="周报.pdf", content_type="application/pdf")
    recipient = Recipient(user_id=operations.user.pk, name="Ops", email="ops@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        written = notify(
            key="report:1",
            event="test.report",
            recipients=[recipient],
            context={},
            channels=["inbox", "email"],
            attachments=[pdf],
        )
    assert written == 2
    rows = dict(Notification.objects.filter(dedupe_key="report:1").values_list("channel", "attachments"))
    assert rows == {
        "inbox": [],
        "email": [
            {
                "storage_name": "weekly-reviews/2026/03/a.pdf",
                "file_name": "周报.pdf",
                "content_type": "application/pdf",
            }
        ],
    }
    [sent] = channels["email"].sent
    assert sent.attachments == (pdf,)


def test_a_broken_writer_does_not_stop_the_refund_and_the_beat_job_catches_up(
    channels, student, homeroom, campus, monkeypatch
):
    real = outbox.notifications_for_refund_event

    def broken(*, event):
        raise RuntimeError("template store unavailable")

    monkeypatch.setattr(outbox, "notifications_for_refund_event", broken)
    refund = submit(order_at(student=student, homeroom=homeroom, campus=campus, price="300.00"))
    assert refund.pk and not Notification.objects.exists()
    assert RefundEvent.objects.filter(request=refund, handled_at__isnull=True).count() == 2
    monkeypatch.setattr(outbox, "notifications_for_refund_event", real)
    assert notifications_send_pending(now=later(1), grace_seconds=0) == 4
    assert not RefundEvent.objects.filter(request=refund, handled_at__isnull=True).exists()
    assert set(Notification.objects.values_list("status", flat=True)) == {NotificationStatus.SENT}


def test_an_events_rows_go_to_a_worker_as_one_batch(channels, refund, monkeypatch):
    key = Notification.objects.filter(refund_request=refund).earliest("pk").dedupe_key
    rows = sorted(Notification.objects.filter(dedupe_key=key).values_list("pk", flat=True))
    assert len(rows) >= 3
    handed = []

    class Signature:
        def __init__(self, name, args, kwargs=None):
            self.name, self.args = name, args

        def apply_async(self, **options):
            handed.append((self.name, sorted(self.args[0])))

    monkeypatch.setattr(outbox.celery_app, "signature", Signature)

    assert notifications_enqueue(dedupe_key=key) == len(rows)

    assert handed == [(outbox.DELIVER_TASK, rows)]


def test_a_batch_is_claimed_sent_and_recorded_in_a_few_queries_whatever_its_size(channels, student, homeroom, campus):
    for _ in range(4):
        submit(order_at(student=student, homeroom=homeroom, campus=campus, price="300.00"))
    ids = list(Notification.objects.values_list("pk", flat=True))
    assert len(ids) >= 8

    with CaptureQueriesContext(connection) as captured:
        results = notifications_deliver(ids=ids, now=later())

    assert {outcome for outcome, _wait in results.values()} == {Outcome.SENT}
    assert set(Notification.objects.values_list("status", flat=True)) == {NotificationStatus.SENT}
    inbox_rows = Notification.objects.filter(channel="inbox")
    assert InboxMessage.objects.filter(delivery__in=inbox_rows).count() == inbox_rows.count()
    # The claim (read, update), the inbox's rows (insert, read), one update per row's result, and
    # the savepoints of the two transactions: at most three a row, amortised.
    assert len(captured) <= len(ids) + 10, [query["sql"] for query in captured.captured_queries]
    assert len(captured) <= 3 * len(ids)

    # Delivered once: the same batch again sends nothing.
    sent = {name: len(double.sent) for name, double in channels.items()}
    assert set(notifications_deliver(ids=ids, now=later(120)).values()) == {(Outcome.SKIPPED, None)}
    assert {name: len(double.sent) for name, double in channels.items()} == sent


def test_the_events_of_one_transaction_go_to_a_worker_as_one_batch_even_after_a_rolled_back_savepoint(
    channels, student, operations, django_capture_on_commit_callbacks, monkeypatch
):
    from notifications.models import NotificationTemplate
    from notifications.rendering import event_register

    event_register("test.alert", label="Alert", placeholders=("recipient_name", "course"))
    NotificationTemplate.objects.create(
        event="test.alert", channel="inbox", language="zh-hans", subject="提醒：{{ course }}", body="请注意。"
    )
    recipient = Recipient(user_id=operations.user.pk, name="周运营")
    handed = []

    class Signature:
        def __init__(self, name, args, kwargs=None):
            self.args = args

        def apply_async(self, **options):
            handed.append(sorted(self.args[0]))

    monkeypatch.setattr(outbox.celery_app, "signature", Signature)

    def alert(key: str) -> None:
        notify(key=key, event="test.alert", recipients=[recipient], context={"course": key}, channels=["inbox"])

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        try:
            with transaction.atomic():
                alert("alert:gone")
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
        alert("alert:a")
        alert("alert:b")

    kept = sorted(Notification.objects.filter(dedupe_key__in=["alert:a", "alert:b"]).values_list("pk", flat=True))
    assert len(kept) == 2 and not Notification.objects.filter(dedupe_key="alert:gone").exists()
    assert handed == [kept]


class _Handed:
    """Stands in for Celery's signature: records the hand-overs instead of queueing them."""

    def __init__(self):
        self.calls = []

    def __call__(self, name, args, kwargs=None):
        handed = self

        class Signature:
            def apply_async(self, **options):
                handed.calls.append((sorted(args[0]), kwargs or {}))

        return Signature()


@pytest.fixture
def with_workers(monkeypatch):
    """Commits hand rows to workers (not in process); the hand-overs are recorded."""
    from django.core.cache import cache

    cache.delete(outbox.DRAIN_KEY)
    handed = _Handed()
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    monkeypatch.setattr(outbox.celery_app, "signature", handed)
    yield handed
    cache.delete(outbox.DRAIN_KEY)


def test_with_workers_the_first_commit_starts_a_drainer_and_the_next_ones_leave_their_rows_to_it(
    channels, student, homeroom, campus, with_workers, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = submit(order_at(student=student, homeroom=homeroom, campus=campus, price="300.00"))
    with django_capture_on_commit_callbacks(execute=True):
        submit(order_at(student=student, homeroom=homeroom, campus=campus, price="500.00"))
    first_rows = sorted(Notification.objects.filter(refund_request=first).values_list("pk", flat=True))
    assert with_workers.calls == [(first_rows, {"drain": True})]

    results, more = outbox.notifications_drain(ids=with_workers.calls[0][0])

    assert not more
    assert set(Notification.objects.values_list("status", flat=True)) == {NotificationStatus.SENT}
    assert set(results) == set(Notification.objects.values_list("pk", flat=True))
    # The drainer let go of its key: the next commit starts a drainer again.
    with django_capture_on_commit_callbacks(execute=True):
        submit(order_at(student=student, homeroom=homeroom, campus=campus, price="700.00"))
    assert len(with_workers.calls) == 2 and with_workers.calls[1][1] == {"drain": True}


def test_the_drainer_sends_a_backlog_in_large_batches_in_under_a_query_a_row(
    channels, student, homeroom, campus, with_workers
):
    for n in range(12):
        submit(order_at(student=student, homeroom=homeroom, campus=campus, price=f"{300 + n}.00"))
    rows = Notification.objects.count()
    assert rows >= 36

    with CaptureQueriesContext(connection) as captured:
        results, more = outbox.notifications_drain()

    assert not more and len(results) == rows
    assert set(Notification.objects.values_list("status", flat=True)) == {NotificationStatus.SENT}
    assert len(captured) < rows, [query["sql"] for query in captured.captured_queries]
