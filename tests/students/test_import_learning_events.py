"""manage.py import_learning_events: CSV files from the learning platform, all or nothing."""

from __future__ import annotations

import datetime
import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone, translation

from orders.models import Order
from students.models import Enrollment, LearningEvent, LearningEventSource

HEADER = "event_id,type,student_no,order_no,lesson_no,seconds,completed,rating,occurred_at"
WHEN = (timezone.now() - datetime.timedelta(days=2)).isoformat()


@pytest.fixture(autouse=True)
def _english():
    """The command speaks the active language (Chinese by default); these tests read the English."""
    with translation.override("en"):
        yield


def rows_for(order: Order) -> list[str]:
    s, o = order.student.student_no, order.order_no
    return [
        f"c1,lesson_watched,{s},{o},1,600,true,,{WHEN}",
        f"c2,lesson_watched,{s},{o},2,300,false,,{WHEN}",
        f"c3,live_attended,{s},{o},3,3600,,,{WHEN}",
        f"c4,homework_submitted,{s},{o},3,,,,{WHEN}",
        f"c5,rating,{s},{o},,,,5,{WHEN}",
    ]


def write(tmp_path, lines: list[str], *, header: str = HEADER, encoding: str = "utf-8"):
    path = tmp_path / "events.csv"
    path.write_text("\n".join([header, *lines]) + "\n", encoding=encoding)
    return path


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_learning_events", *map(str, args), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def fail(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("import_learning_events", *map(str, args), stdout=out, stderr=err)
    return err.getvalue(), str(excinfo.value)


def test_good_file_is_imported_and_counted(tmp_path, order):
    out, _err = run(write(tmp_path, rows_for(order)))

    assert "Rows read: 5; events imported: 5; already stored: 0." in out
    assert set(LearningEvent.objects.values_list("source", flat=True)) == {LearningEventSource.CSV}
    enrollment = Enrollment.objects.get(order=order)
    assert (enrollment.lessons_watched, enrollment.live_sessions_attended, enrollment.homework_submitted) == (1, 1, 1)
    assert (enrollment.study_seconds, enrollment.rating, enrollment.lessons_consumed) == (4500, 5, 2)
    assert LearningEvent.objects.get(event_id="c2").completed is False


def test_importing_the_same_file_again_counts_duplicates(tmp_path, order):
    path = write(tmp_path, rows_for(order))
    run(path)

    out, _err = run(path)

    assert "events imported: 0; already stored: 5." in out
    assert LearningEvent.objects.count() == 5


def test_file_with_a_byte_order_mark_is_read(tmp_path, order):
    out, _err = run(write(tmp_path, rows_for(order), encoding="utf-8-sig"))

    assert "events imported: 5;" in out


def test_bad_cell_is_reported_by_line_and_column_and_nothing_is_stored(tmp_path, order):
    lines = rows_for(order)
    lines[1] = lines[1].replace(",2,300,", ",0,300,")

    err, message = fail(write(tmp_path, lines))

    assert err.splitlines() == ["line 3, column lesson_no: Must be at least 1."]
    assert "Problems found: 1; nothing was imported." in message
    assert not LearningEvent.objects.exists()


def test_order_of_another_student_is_reported_by_line_and_column(tmp_path, order, other_student):
    lines = rows_for(order)
    lines[3] = lines[3].replace(order.student.student_no, other_student.student_no)

    err, _message = fail(write(tmp_path, lines))

    assert err.splitlines() == [
        f"line 5, column order_no: No order {order.order_no} for student {other_student.student_no}.",
    ]
    assert not LearningEvent.objects.exists()
    assert Enrollment.objects.get(order=order).lessons_watched == 0


def test_every_bad_cell_is_reported(tmp_path, order):
    lines = rows_for(order)
    lines[0] = lines[0].replace(",600,true,", ",many,maybe,")
    lines[4] = lines[4].replace(WHEN, "2024-05-01 10:00")

    err, _message = fail(write(tmp_path, lines))

    assert err.splitlines() == [
        "line 2, column seconds: Must be an integer.",
        "line 2, column completed: Must be true or false.",
        "line 6, column occurred_at: Needs a timezone offset, e.g. +08:00.",
    ]


def test_line_numbers_count_blank_lines(tmp_path, order):
    lines = rows_for(order)
    lines.insert(1, "")
    lines[4] = lines[4].replace("homework_submitted", "homework")

    err, _message = fail(write(tmp_path, lines))

    assert err.splitlines()[0].startswith("line 6, column type:")


def test_dry_run_validates_and_stores_nothing(tmp_path, order):
    out, _err = run(write(tmp_path, rows_for(order)), "--dry-run")

    assert "Valid events: 5; would be imported: 5; already stored: 0." in out
    assert not LearningEvent.objects.exists()
    assert Enrollment.objects.get(order=order).lessons_watched == 0


def test_dry_run_reports_errors_too(tmp_path, order):
    lines = [*rows_for(order), rows_for(order)[0].replace("c1", "c9").replace(order.order_no, "NO123")]

    err, _message = fail(write(tmp_path, lines), "--dry-run")

    assert err.splitlines() == [
        f"line 7, column order_no: No order NO123 for student {order.student.student_no}.",
    ]


def test_test_scores_come_in_from_a_score_column(tmp_path, order):
    s, o = order.student.student_no, order.order_no
    lines = [f"t1,test_scored,{s},{o},,,,,92.5,{WHEN}", f"t2,test_scored,{s},{o},2,,,,70,{WHEN}"]

    run(write(tmp_path, lines, header=HEADER.replace(",occurred_at", ",score,occurred_at")))

    enrollment = Enrollment.objects.get(order=order)
    assert (enrollment.tests_taken, str(enrollment.test_score_avg)) == (2, "81.25")


def test_bad_score_is_reported_by_line_and_column(tmp_path, order):
    s, o = order.student.student_no, order.order_no
    lines = [f"t1,test_scored,{s},{o},,,,,9O,{WHEN}", f"t2,lesson_watched,{s},{o},2,,,,70,{WHEN}"]

    err, _message = fail(write(tmp_path, lines, header=HEADER.replace(",occurred_at", ",score,occurred_at")))

    assert err.splitlines() == [
        "line 2, column score: Must be a number.",
        "line 3, column score: Only allowed for events of type test_scored.",
    ]
    assert not LearningEvent.objects.exists()


def test_optional_columns_may_be_left_out(tmp_path, order):
    header = "event_id,type,student_no,order_no,lesson_no,occurred_at"
    line = f"x1,lesson_watched,{order.student.student_no},{order.order_no},4,{WHEN}"

    run(write(tmp_path, [line], header=header))

    stored = LearningEvent.objects.get()
    assert (stored.lesson_no, stored.seconds, stored.completed, stored.rating) == (4, 0, True, None)


def test_padded_cells_and_header_are_trimmed(tmp_path, order):
    header = ", ".join(HEADER.split(","))
    line = f" p1 , lesson_watched , {order.student.student_no} , {order.order_no} , 2 , 10 , TRUE , , {WHEN} "

    run(write(tmp_path, [line], header=header))

    assert LearningEvent.objects.get().event_id == "p1"


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (HEADER.replace("seconds", "second"), "line 1, column second: unknown column"),
        (HEADER.replace(",occurred_at", ""), "line 1: column occurred_at is missing"),
        (HEADER + ",rating", "line 1, column rating: appears more than once"),
    ],
)
def test_bad_header_is_reported(tmp_path, order, header, problem):
    err, _message = fail(write(tmp_path, rows_for(order), header=header))

    assert problem in err.splitlines()
    assert not LearningEvent.objects.exists()


def test_row_with_more_fields_than_columns_is_reported(tmp_path, order):
    lines = rows_for(order)
    lines[2] += ",surplus"

    err, _message = fail(write(tmp_path, lines))

    assert err.splitlines() == ["line 4: more fields than columns"]


def test_file_that_is_not_utf8_is_refused(tmp_path, order):
    path = tmp_path / "events.csv"
    path.write_bytes((HEADER + "\n").encode() + "c1,课程".encode("gbk"))

    _err, message = fail(path)

    assert "not UTF-8" in message


def test_missing_file_is_refused(tmp_path, db):
    _err, message = fail(tmp_path / "nope.csv")

    assert "No such file" in message
