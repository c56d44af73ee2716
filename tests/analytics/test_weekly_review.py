"""The weekly review: its figures against the hand-made school of ``test_indicators``, its one-page
PDF, the e-mail with the PDF attached on a real SMTP server, dedupe, campus scope, the beat entry.

The school (see ``test_indicators`` for every row): the week Monday 2026-03-02 … Sunday 03-08
against 02-23 … 03-01.

    北校区 (north): courses A1 (teacher 甲老师) and A2 (乙老师).
        This week: r1 (A1, time_conflict, approved in 6 h, 900.00 refunded on Tue 03-03),
        r2 (A1, quality, rejected 24 h after submission), r3 (A2, time_conflict, waiting),
        r6 (A1, other, Sunday 23:30); revenue 1000 + 2000 + 3000 = 6000.00.
        The week before: r5 (A1, Thu 02-26, approved in 2 h, 450.00 refunded Fri 02-27); revenue 500.00.
    南校区 (south): course B (丙老师). This week: r4 (illness, approved in 4 h, 4500.00 refunded
        Fri 03-06); revenue 5000.00. The week before: nothing. (r7, Monday 03-09, is next week.)
"""

from __future__ import annotations

import datetime
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from celery.schedules import crontab
from django.conf import settings as django_settings
from django.core.management import call_command
from django.urls import reverse

from analytics import charts
from analytics.models import WeeklyReview
from analytics.weekly import WeeklyReviewError, last_week_start, weekly_review_build, weekly_reviews_send
from notifications.models import InboxMessage, Notification
from schoolops.celery import app as celery_app
from schoolops.models import User
from tests.notifications.channels import smtp

from . import test_indicators

# Fixtures used here: the hand-made school, and a real SMTP server on loopback.
school = test_indicators.school
smtp_server = smtp.smtp_server

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shipped_data")]

WEEK = datetime.date(2026, 3, 2)
TUESDAY_AFTER = datetime.date(2026, 3, 10)
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "weekly-review"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def readers(school):
    """Every reader with an e-mail address (staff have none by default)."""
    for key in ("ops", "head_north", "head_south"):
        user: User = school[key]
        user.email = f"{user.username}@school.example.com"
        user.save(update_fields=["email"])
    return school


def _run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=60).stdout  # noqa: S603


def _pdf(review: WeeklyReview, tmp_path: Path) -> Path:
    path = tmp_path / f"review-{review.pk}.pdf"
    with review.pdf.open("rb") as handle:
        path.write_bytes(handle.read())
    return path


# --- Weeks ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("today", "monday"),
    [
        (datetime.date(2026, 3, 9), WEEK),  # Monday: the week that just ended
        (datetime.date(2026, 3, 15), WEEK),  # Sunday: still last week (this one is not over)
        (datetime.date(2026, 3, 16), datetime.date(2026, 3, 9)),
    ],
)
def test_last_week_is_the_monday_to_sunday_before_todays_week(today, monday):
    assert last_week_start(today) == monday


def test_a_week_not_over_or_a_day_not_monday_is_refused(school):
    with pytest.raises(WeeklyReviewError):
        weekly_review_build(week_start=WEEK, campus_id=None, today=datetime.date(2026, 3, 8))
    with pytest.raises(WeeklyReviewError):
        weekly_review_build(week_start=datetime.date(2026, 3, 3), campus_id=None, today=TUESDAY_AFTER)
    assert not WeeklyReview.objects.exists()


# --- Figures ----------------------------------------------------------------------------------------


def test_the_schools_review_has_the_figures_computed_by_hand(school):
    figures = weekly_review_build(week_start=WEEK, campus_id=None, today=TUESDAY_AFTER).figures

    assert (figures["week_start"], figures["week_end"]) == ("2026-03-02", "2026-03-08")
    assert (figures["previous_start"], figures["previous_end"]) == ("2026-02-23", "2026-03-01")
    assert figures["campus_ids"] is None
    now, before = figures["current"], figures["previous"]
    assert now["applications"] == 5  # r1 r2 r3 r4 r6
    assert now["approval_rate"] == "66.7"  # r1, r4 approved of r1, r2, r4 decided
    assert now["avg_hours_to_decision"] == "11.3"  # (6 + 24 + 4) / 3
    assert now["refunded_amount"] == "5400.00"  # 900 + 4500
    assert now["refund_ratio"] == "49.09"  # 5400 / 11000
    assert (before["applications"], before["approval_rate"], before["avg_hours_to_decision"]) == (1, "100.0", "2.0")
    assert (before["refunded_amount"], before["refund_ratio"]) == ("450.00", "90.00")  # 450 / 500
    # Each day of both weeks, Monday first.
    assert [d["applications"] for d in figures["days"]] == [1, 1, 1, 1, 0, 0, 1]
    assert [d["previous_applications"] for d in figures["days"]] == [0, 0, 0, 1, 0, 0, 0]  # r5 on Thursday
    assert [d["refunded_amount"] for d in figures["days"]] == [
        "0.00",
        "900.00",
        "0.00",
        "0.00",
        "4500.00",
        "0.00",
        "0.00",
    ]
    assert [d["previous_refunded_amount"] for d in figures["days"]][4] == "450.00"  # Friday 02-27
    # time_conflict r1 r3 = 2 / 5 = 40 %; illness, other, quality one each = 20 %.
    assert [(r["reason"], r["count"], r["share"]) for r in figures["reasons"]] == [
        ("time_conflict", 2, "40.0"),
        ("illness", 1, "20.0"),
        ("other", 1, "20.0"),
        ("quality", 1, "20.0"),
    ]
    a1, a2, b = school["courses"]
    # By refunds: B 4500 of 5000 = 90 %, A1 900 of 3000 = 30 %; A2 paid nothing back: not listed.
    assert [(r["label"], r["refunded_amount"], r["refund_ratio"]) for r in figures["courses"]] == [
        (b.name, "4500.00", "90.00"),
        (a1.name, "900.00", "30.00"),
    ]
    assert [r["label"] for r in figures["courses_by_ratio"]] == [b.name, a1.name]
    assert [(r["label"], r["refunded_amount"], r["refund_ratio"]) for r in figures["teachers"]] == [
        ("丙老师", "4500.00", "90.00"),
        ("甲老师", "900.00", "30.00"),
    ]


def test_a_campus_review_has_only_its_campus(school):
    north = weekly_review_build(week_start=WEEK, campus_id=school["north"].pk, today=TUESDAY_AFTER)
    south = weekly_review_build(week_start=WEEK, campus_id=school["south"].pk, today=TUESDAY_AFTER)

    a1, _a2, b = school["courses"]
    figures = north.figures
    assert figures["campus_ids"] == [school["north"].pk]
    assert figures["current"]["applications"] == 4  # r1 r2 r3 r6; not r4 (south)
    assert figures["current"]["approval_rate"] == "50.0"  # r1 approved, r2 rejected
    assert figures["current"]["avg_hours_to_decision"] == "15.0"  # (6 + 24) / 2
    assert figures["current"]["refunded_amount"] == "900.00"
    assert figures["current"]["refund_ratio"] == "15.00"  # 900 / 6000
    assert figures["previous"]["refund_ratio"] == "90.00"  # r5: 450 / 500
    assert [r["label"] for r in figures["courses"]] == [a1.name]
    assert [r["label"] for r in figures["teachers"]] == ["甲老师"]
    # time_conflict r1 r3 = 2 / 4; other r6, quality r2 = 1 / 4 each.
    assert [(r["reason"], r["share"]) for r in figures["reasons"]] == [
        ("time_conflict", "50.0"),
        ("other", "25.0"),
        ("quality", "25.0"),
    ]
    assert "丙老师" not in str(figures) and b.name not in str(figures)
    assert (south.figures["current"]["applications"], south.figures["current"]["refund_ratio"]) == (1, "90.00")
    assert south.figures["previous"]["applications"] == 0 and south.figures["previous"]["refund_ratio"] is None


def test_building_again_returns_the_review_already_made(school):
    first = weekly_review_build(week_start=WEEK, campus_id=None, today=TUESDAY_AFTER)
    again = weekly_review_build(week_start=WEEK, campus_id=None, today=TUESDAY_AFTER)

    assert again.pk == first.pk and again.sha256 == first.sha256
    assert WeeklyReview.objects.count() == 1
    files = list(Path(django_settings.MEDIA_ROOT).rglob("*.pdf"))
    assert len(files) == 1


def test_the_command_makes_one_review_per_campus_and_one_for_the_school(school):
    call_command("analytics_weekly_review", "--week", "2026-03-02", verbosity=0)

    scopes = set(WeeklyReview.objects.filter(week_start=WEEK).values_list("campus_id", flat=True))
    assert scopes == {school["north"].pk, school["south"].pk, None}


# --- The PDF ----------------------------------------------------------------------------------------


def test_the_pdf_is_one_a4_page_in_chinese_with_the_scope_weeks_and_figures(school, tmp_path):
    review = weekly_review_build(week_start=WEEK, campus_id=school["north"].pk, today=TUESDAY_AFTER)
    pdf = _pdf(review, tmp_path)

    info = _run("pdfinfo", str(pdf))
    assert "Pages:           1" in info
    assert "595.276 x 841.89 pts (A4)" in info
    text = _run("pdftotext", "-layout", str(pdf), "-")
    assert django_settings.SCHOOL_NAME in text
    assert "北校区" in text
    assert "2026-03-02" in text and "2026-03-08" in text and "2026-02-23" in text
    assert "申请数" in text or "Applications" in text
    for figure in ("50.0%", "15.00%", "900.00", "甲老师"):  # approval rate, ratio, refunded, teacher
        assert figure in text
    assert "时间冲突" in text or "time" in text.lower()  # the reason mix, labelled
    fonts = _run("pdffonts", str(pdf))
    assert "CJK" in fonts
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    _run("pdftoppm", "-png", "-r", "80", "-singlefile", str(pdf), str(ARTIFACTS / "north"))


def test_the_weeks_alerts_of_the_campus_are_on_the_page(school, tmp_path):
    from analytics.models import Alert, AlertKind, AlertRule

    rule = AlertRule.objects.create(name="激增", kind=AlertKind.SPIKE, threshold=Decimal("150"), window_days=28)
    for n, campus in enumerate([school["north"]] * 4 + [school["south"]]):
        Alert.objects.create(
            rule=rule,
            kind=AlertKind.SPIKE,
            occurrence=f"campus:{campus.pk}:{n}",
            campus=campus,
            day=WEEK + datetime.timedelta(days=n),
            since=WEEK,
            figures={
                "applications": 9 + n,
                "average": "1.00",
                "percent": f"{900 + 100 * n}.0",
                "window_days": 28,
                "threshold": "150.00",
            },
            created_at=datetime.datetime(2026, 3, 3, tzinfo=datetime.UTC),
        )
    review = weekly_review_build(week_start=WEEK, campus_id=school["north"].pk, today=TUESDAY_AFTER)
    assert review.figures["alerts"]["count"] == 4  # the other campus's is not hers
    assert len(review.figures["alerts"]["rows"]) == 3
    pdf = _pdf(review, tmp_path)
    assert "Pages:           1" in _run("pdfinfo", str(pdf))
    text = _run("pdftotext", str(pdf), "-")
    assert "本周 4 条预警" in text
    assert "900.0%" in text and "1200.0%" not in text  # the first three written out
    school_review = weekly_review_build(week_start=WEEK, campus_id=None, today=TUESDAY_AFTER)
    assert school_review.figures["alerts"]["count"] == 5


# --- Sending ----------------------------------------------------------------------------------------


def test_each_reader_gets_inbox_and_an_email_with_the_pdf_on_a_real_smtp_server(
    readers, smtp_server, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        written = weekly_reviews_send(today=TUESDAY_AFTER)

    assert written == 6  # (north head, south head, operations) × (inbox, e-mail)
    reviews = {review.campus_id: review for review in WeeklyReview.objects.filter(week_start=WEEK)}
    assert set(reviews) == {readers["north"].pk, readers["south"].pk, None}
    received = {mail["To"].addresses[0].addr_spec: mail for mail in smtp_server.messages}
    expected = {
        readers["head_north"].email: reviews[readers["north"].pk],
        readers["head_south"].email: reviews[readers["south"].pk],
        readers["ops"].email: reviews[None],
    }
    assert set(received) == set(expected)
    for address, review in expected.items():
        mail = received[address]
        assert "2026-03-02" in mail["Subject"]
        [attachment] = list(mail.iter_attachments())
        assert attachment.get_content_type() == "application/pdf"
        assert attachment.get_filename().endswith("_2026-03-02.pdf")
        with review.pdf.open("rb") as handle:
            assert attachment.get_content() == handle.read()  # the stored PDF, byte for byte
        assert (
            reverse("admin:analytics_weeklyreview_change", args=[review.pk])
            in mail.get_body(preferencelist=("plain",)).get_content()
        )
    assert "北校区" in received[readers["head_north"].email]["Subject"]
    inbox = {m.recipient_id: m for m in InboxMessage.objects.all()}
    assert set(inbox) == {readers[key].pk for key in ("ops", "head_north", "head_south")}
    assert Notification.objects.filter(event="analytics.weekly_review", status="sent").count() == 6
    assert Notification.objects.filter(channel="inbox").exclude(attachments=[]).count() == 0


def test_sending_the_same_week_again_sends_nothing_new(readers, smtp_server, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        weekly_reviews_send(today=TUESDAY_AFTER)
    rows, mails = Notification.objects.count(), len(smtp_server.messages)

    with django_capture_on_commit_callbacks(execute=True):
        assert weekly_reviews_send(today=datetime.date(2026, 3, 12)) == 0

    assert (Notification.objects.count(), len(smtp_server.messages)) == (rows, mails)
    assert WeeklyReview.objects.count() == 3


def test_a_campus_head_is_sent_her_campus_review_only(readers, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        weekly_reviews_send(today=TUESDAY_AFTER)

    north = WeeklyReview.objects.get(campus=readers["north"], week_start=WEEK)
    keys = set(Notification.objects.filter(recipient=readers["head_north"]).values_list("dedupe_key", flat=True))
    assert keys == {f"weekly-review:{north.pk}"}


# --- The admin --------------------------------------------------------------------------------------


@pytest.fixture
def reviews(school):
    built = {
        key: weekly_review_build(week_start=WEEK, campus_id=campus_id, today=TUESDAY_AFTER)
        for key, campus_id in (("north", school["north"].pk), ("south", school["south"].pk), ("school", None))
    }
    return school, built


def _pdf_url(review: WeeklyReview) -> str:
    return reverse("admin:analytics_weeklyreview_pdf", args=[review.pk])


def test_a_campus_head_lists_and_downloads_her_campus_reviews_only(client, reviews):
    school, built = reviews
    client.force_login(school["head_north"])

    listing = client.get(reverse("admin:analytics_weeklyreview_changelist"))
    assert listing.status_code == 200
    assert _pdf_url(built["north"]) in listing.content.decode()
    assert _pdf_url(built["south"]) not in listing.content.decode()
    assert _pdf_url(built["school"]) not in listing.content.decode()
    response = client.get(_pdf_url(built["north"]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert "private" in response["Cache-Control"] and "no-store" in response["Cache-Control"]
    assert b"".join(response.streaming_content).startswith(b"%PDF")
    assert client.get(_pdf_url(built["south"])).status_code == 404
    assert client.get(_pdf_url(built["school"])).status_code == 404
    change = reverse("admin:analytics_weeklyreview_change", args=[built["south"].pk])
    assert client.get(change).status_code == 404


def test_operations_list_and_download_every_review(client, reviews):
    school, built = reviews
    client.force_login(school["ops"])

    page = client.get(reverse("admin:analytics_weeklyreview_changelist")).content.decode()
    assert all(_pdf_url(review) in page for review in built.values())
    assert client.get(_pdf_url(built["school"])).status_code == 200
    assert client.get(reverse("admin:analytics_weeklyreview_change", args=[built["north"].pk])).status_code == 200


def test_staff_without_the_dashboard_permission_are_refused(client, reviews):
    school, built = reviews
    client.force_login(school["a1"].user)  # a homeroom teacher of the north campus

    assert client.get(reverse("admin:analytics_weeklyreview_changelist")).status_code == 403
    assert client.get(_pdf_url(built["north"])).status_code == 403


def test_the_pdf_is_not_under_a_public_url(reviews):
    _school, built = reviews
    name = built["north"].pdf.name
    assert name.startswith("weekly-reviews/2026/") and name.endswith(".pdf")
    assert "北" not in name  # a random name, not the campus's


def test_the_dashboard_links_to_the_reviews(client, school):
    client.force_login(school["ops"])
    page = client.get(reverse("admin:analytics_dashboard")).content.decode()
    assert reverse("admin:analytics_weeklyreview_changelist") in page


# --- The schedule and the charts ------------------------------------------------------------------------


def test_the_beat_sends_the_reviews_every_monday_at_8_shanghai_time():
    entry = django_settings.CELERY_BEAT_SCHEDULE["send-weekly-reviews"]
    assert entry["task"] == "analytics.tasks.send_weekly_reviews"
    assert entry["task"] in celery_app.tasks
    schedule = entry["schedule"]
    assert isinstance(schedule, crontab)
    assert (schedule.minute, schedule.hour, schedule.day_of_week) == ({0}, {8}, {1})
    assert django_settings.CELERY_TIMEZONE == "Asia/Shanghai"


@pytest.mark.parametrize(
    ("peak", "top", "step"),
    [(7, "8", "2"), (4500, "6000", "2000"), (3, "3", "1"), (0, "4", "1"), (Decimal("0.5"), "0.6", "0.2")],
)
def test_an_axis_ends_on_a_round_step_above_the_peak(peak, top, step):
    assert charts.nice_ceiling(peak) == (Decimal(top), Decimal(step))


def test_chart_text_is_escaped():
    svg = charts.ranking_chart(title="<t>", rows=[("<b>课程</b>", 1, "1 & 2")], empty="—")
    assert "<b>" not in svg and "&lt;b&gt;课程&lt;/b&gt;" in svg and "1 &amp; 2" in svg
