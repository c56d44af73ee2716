"""The demo data command: a whole school, every role and channel, idempotent."""

import io

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import Client, override_settings
from django.urls import reverse

from demo.management.commands.seed_demo import DEMO_PASSWORD
from orders.models import Course, CourseType, Order, PaymentChannel
from refunds.models import RefundRequest, RefundTransition
from schoolops.models import Campus, Staff, StaffRole
from students.models import Enrollment, LearningEvent, LearningEventSource, Student
from tests.conftest import FAST_HASHERS


@pytest.fixture(autouse=True)
def _debug_mode(settings):
    """seed_demo is a development command; pytest runs with DEBUG off."""
    settings.DEBUG = True


def _seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """The demo school, seeded once for the module (a minute of work) in a transaction rolled back
    after its last test; each test runs in a savepoint of it. Its value: what the command printed."""
    with (
        django_db_blocker.unblock(),
        override_settings(DEBUG=True, PASSWORD_HASHERS=FAST_HASHERS),
        transaction.atomic(),
    ):
        yield _seed()
        transaction.set_rollback(True)


def _counts() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (Campus, Staff, Student, Course, Order, Enrollment, RefundRequest))


def test_seed_makes_a_whole_school(seeded, db):
    assert Campus.objects.count() == 2
    assert set(Staff.objects.values_list("role", flat=True)) == set(StaffRole.values)
    assert 45 <= Student.objects.count() <= 80  # 50, and 9 a campus in its student-service scenes
    assert set(Course.objects.values_list("course_type", flat=True)) == set(CourseType.values)
    assert set(Order.objects.values_list("channel", flat=True)) == set(PaymentChannel.values)
    assert Enrollment.objects.count() == Order.objects.count()
    assert Enrollment.objects.filter(lessons_consumed__gt=0).exists()
    # Progress arrives as learning events, as it would from the platform.
    assert LearningEvent.objects.filter(source=LearningEventSource.API).count() > 100
    assert Enrollment.objects.filter(live_sessions_attended__gt=0, replays_watched__gt=0).exists()
    # Refund requests in the states an approver meets, made through the lifecycle services.
    statuses = set(RefundRequest.objects.values_list("status", flat=True))
    assert {"pending_homeroom", "pending_supervisor", "pending_quality", "approved", "needs_info"} <= statuses
    assert RefundTransition.objects.count() > RefundRequest.objects.count()
    for enrollment in Enrollment.objects.select_related("order__course"):
        assert enrollment.lessons_consumed <= enrollment.order.course.lessons


def test_the_homeroom_teachers_workbench_has_a_day_of_work(seeded, db):
    from django.utils import timezone

    from service.models import ContactLog, LessonFeedback, Referral, ServiceTask, TaskKind, TaskStatus

    mine = ServiceTask.objects.filter(teacher__user__username="bj-teacher1")
    open_kinds = set(mine.filter(status=TaskStatus.OPEN).values_list("kind", flat=True))
    # New students to call, a first lesson within the hour, students who stopped, a renewal due.
    assert {TaskKind.FIRST_CONTACT, TaskKind.LESSON_REMINDER, TaskKind.INACTIVE, TaskKind.RENEWAL} <= open_kinds
    assert mine.filter(status=TaskStatus.OPEN, due_at__lt=timezone.now()).exists()  # some overdue
    assert mine.filter(status=TaskStatus.DONE).count() > 20  # and a week of work behind them
    assert ContactLog.objects.filter(staff__user__username="bj-teacher1").exists()
    assert Referral.objects.exists()
    assert set(LessonFeedback.objects.exclude(answer="").values_list("answer", flat=True)) == {"good", "okay", "bad"}


def test_running_it_twice_changes_nothing(seeded, db):
    first = _counts()
    _seed()
    assert _counts() == first


def test_printed_logins_work(seeded, db):
    out = seeded
    assert DEMO_PASSWORD in out
    phone = Student.objects.order_by("student_no").first().phone
    assert phone in out
    client = Client()
    response = client.post(reverse("login"), {"username": phone, "password": DEMO_PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("portal:home")
    staff = Client()
    response = staff.post(reverse("admin:login"), {"username": "bj-teacher1", "password": DEMO_PASSWORD})
    assert response.status_code == 302
    assert staff.get(reverse("admin:index")).status_code == 200


def test_refuses_to_run_in_production(db, settings):
    from django.core.management.base import CommandError

    settings.DEBUG = False
    before = _counts()
    with pytest.raises(CommandError):
        call_command("seed_demo", stdout=io.StringIO())
    assert _counts() == before


def test_the_demo_has_exchange_policies_courses_to_try_and_one_exchange_done(seeded, db):
    from exchanges.models import Exchange, ExchangePolicy, ExchangeStatus
    from exchanges.services import exchange_offer, exchange_quote
    from finance.models import Voucher

    assert ExchangePolicy.objects.filter(is_active=True).count() == 2
    done = Exchange.objects.get()
    assert done.status == ExchangeStatus.COMPLETED and done.new_order is not None
    assert Voucher.objects.filter(request=done.request, kind="exchange").exists()
    # The first student login may try both ways: a cheaper and a dearer live class.
    student = Student.objects.get(student_no="S000001")
    mine = {
        order.order_no[:8]: order for order in Order.objects.filter(student=student, order_no__startswith="DEMO-EX")
    }
    cheaper = exchange_quote(order=mine["DEMO-EXA"], target=Course.objects.get(code="bj-live-weekend"))
    dearer = exchange_quote(order=mine["DEMO-EXB"], target=Course.objects.get(code="bj-live-intensive"))
    assert cheaper.refund_amount > 0 and dearer.pay_amount > 0
    assert exchange_offer(order=mine["DEMO-EXA"]).targets
    assert not exchange_offer(order=mine["DEMO-EXC"]).targets  # exchanged already
