"""manage.py import_orders: CSV files from the school's order system, all or nothing."""

from __future__ import annotations

import datetime
import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone, translation

from orders.models import Course, Order, OrderStatus
from students.models import Enrollment, Student

from .order_helpers import counts

HEADER = (
    "order_no,status,student_no,student_name,phone,email,wechat_openid,course_code,amount_paid,paid_at,"
    "channel,gateway_trade_no,referral_code,homeroom_teacher"
)
WHEN = (timezone.now() - datetime.timedelta(days=2)).isoformat()


@pytest.fixture(autouse=True)
def _english():
    """The command speaks the active language (Chinese by default); these tests read the English."""
    with translation.override("en"):
        yield


def rows_for(course: Course, teacher_username: str = "") -> list[str]:
    c = course.code
    return [
        f"CSV001,paid,CS001,林一,13711110001,lin@example.com,oid-1,{c},3000.00,{WHEN},wechat,4200000000000001,,",
        f"CSV002,paid,CS002,林二,13711110002,,,{c},2999.50,{WHEN},alipay,2026000000000002,FRIEND,{teacher_username}",
        f"CSV003,paid,CS001,林一,13711110001,lin@example.com,oid-1,{c},100.00,{WHEN},offline,,,",
    ]


def write(tmp_path, lines: list[str], *, header: str = HEADER, encoding: str = "utf-8"):
    path = tmp_path / "orders.csv"
    path.write_text("\n".join([header, *lines]) + "\n", encoding=encoding)
    return path


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_orders", *map(str, args), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def fail(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("import_orders", *map(str, args), stdout=out, stderr=err)
    return err.getvalue(), str(excinfo.value)


def test_good_file_is_imported_and_counted(tmp_path, course, homeroom, supervisor):
    out, _err = run(write(tmp_path, rows_for(course, homeroom.user.username)))

    assert "Rows read: 3; orders created: 3; updated: 0; unchanged: 0." in out
    assert Student.objects.count() == 2
    lin = Student.objects.get(student_no="CS001")
    assert (lin.user.name, lin.user.phone, lin.user.email, lin.wechat_openid) == (
        "林一",
        "13711110001",
        "lin@example.com",
        "oid-1",
    )
    second = Order.objects.get(order_no="CSV002")
    assert (str(second.amount_paid), second.channel, second.referral_code) == ("2999.50", "alipay", "FRIEND")
    assert Order.objects.get(order_no="CSV003").gateway_trade_no == ""
    assert Enrollment.objects.filter(homeroom_teacher=homeroom).count() == 3
    assert second.history.get().history_change_reason == "order intake (csv)"


def test_importing_the_same_file_again_counts_unchanged(tmp_path, course, homeroom):
    path = write(tmp_path, rows_for(course))
    run(path)
    before = counts()

    out, _err = run(path)

    assert "orders created: 0; updated: 0; unchanged: 3." in out
    assert counts() == before


def test_a_file_that_cancels_and_changes_orders(tmp_path, course, homeroom):
    run(write(tmp_path, rows_for(course)))
    lines = rows_for(course)
    lines[0] = lines[0].replace(",paid,", ",cancelled,")
    lines[1] = lines[1].replace(",2999.50,", ",2800.00,")

    out, _err = run(write(tmp_path, lines))

    assert "orders created: 0; updated: 2; unchanged: 1." in out
    assert Order.objects.get(order_no="CSV001").status == OrderStatus.CANCELLED
    assert str(Order.objects.get(order_no="CSV002").amount_paid) == "2800.00"


def test_bad_file_is_reported_by_line_and_column_and_nothing_is_stored(tmp_path, course, homeroom):
    lines = rows_for(course)
    lines[0] = lines[0].replace("13711110001", "1371111000")
    lines[1] = lines[1].replace(",2999.50,", ",2999.5,").replace(",alipay,", ",paypal,")
    lines.append(lines[2].replace("CSV003", "CSV004").replace(course.code, "no-such-course"))
    before = counts()

    err, message = fail(write(tmp_path, lines))

    # The shapes are checked first; the unknown course of line 5 is found once they are right.
    assert err.splitlines() == [
        "line 2, column phone: Enter a mainland mobile number of 11 digits starting with 1.",
        'line 3, column amount_paid: Must be an amount in yuan as a string with two decimals, e.g. "1999.00".',
        "line 3, column channel: Must be one of wechat, alipay, card, offline.",
    ]
    assert "nothing was imported" in message
    assert counts() == before


def test_an_unknown_course_is_reported_by_line_and_column(tmp_path, course, homeroom):
    lines = rows_for(course)
    lines[2] = lines[2].replace(course.code, "no-such-course")

    err, _message = fail(write(tmp_path, lines))

    assert err.splitlines() == ["line 4, column course_code: No course no-such-course."]
    assert not Order.objects.exists()


def test_the_same_order_twice_in_a_file_is_reported(tmp_path, course, homeroom):
    lines = rows_for(course)
    lines.append(lines[0])

    err, _message = fail(write(tmp_path, lines))

    assert err.splitlines() == ["line 5, column order_no: Order CSV001 is already in this batch at orders[0]."]
    assert not Order.objects.exists()


def test_dry_run_validates_and_stores_nothing(tmp_path, course, homeroom):
    before = counts()

    out, _err = run(write(tmp_path, rows_for(course)), "--dry-run")

    assert "Dry run, nothing was saved. Valid orders: 3; would be created: 3; would be updated: 0; unchanged: 0." in out
    assert counts() == before


def test_dry_run_reports_errors_too(tmp_path, course, homeroom):
    lines = rows_for(course)
    lines[1] = lines[1].replace(course.code, "nope")

    err, _message = fail(write(tmp_path, lines), "--dry-run")

    assert err.splitlines() == ["line 3, column course_code: No course nope."]


def test_optional_columns_may_be_left_out(tmp_path, course, homeroom):
    header = "order_no,status,student_no,student_name,phone,course_code,amount_paid,paid_at,channel"
    line = f"CSV009,paid,CS009,林九,13711110009,{course.code},1.00,{WHEN},offline"

    run(write(tmp_path, [line], header=header))

    order = Order.objects.get(order_no="CSV009")
    assert (order.gateway_trade_no, order.referral_code, order.student.user.email) == ("", "", "")


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (HEADER.replace("phone", "mobile"), "line 1, column mobile: unknown column"),
        (HEADER.replace(",paid_at", ""), "line 1: column paid_at is missing"),
        (HEADER + ",email", "line 1, column email: appears more than once"),
    ],
)
def test_bad_header_is_reported(tmp_path, course, homeroom, header, problem):
    err, _message = fail(write(tmp_path, rows_for(course), header=header))

    assert problem in err.splitlines()
    assert not Order.objects.exists()


def test_file_that_is_not_utf8_is_refused(tmp_path, db):
    path = tmp_path / "orders.csv"
    path.write_bytes((HEADER + "\n").encode() + "CSV1,paid,CS1,林".encode("gbk"))

    _err, message = fail(path)

    assert "not UTF-8" in message
