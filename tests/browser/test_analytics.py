"""The refund analytics dashboard in a real browser: operations opens it from the admin home,
compares by homeroom teacher, drills down from the chart and from the table into the request
list, and exports the view to XLSX. The charts must draw (ECharts, served from our own static
files) with the Chinese names of the school, and the Content-Security-Policy must block nothing.

Screenshots: artifacts/screenshots/test_operations_*.png.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from tests import factories
from tests.analytics.helpers import move, paid_order, raw_request, rebuild
from tests.refunds.helpers import zh

from .conftest import shot
from .test_content_security_policy import COLLECT_VIOLATIONS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def days_ago(days: int, hour: int = 10) -> datetime.datetime:
    day = timezone.localdate() - datetime.timedelta(days=days)
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour)))


@pytest.fixture
def school(campus, other_campus, homeroom, other_campus_homeroom):
    """Six requests in the last 40 days: four of 孙老师's students (北京海淀校区), two of 吴老师's
    (上海徐汇校区); two refunded, one rejected."""
    course = factories.make_course(campus=campus)
    other_course = factories.make_course(campus=other_campus)
    requests = []
    for n, (teacher, on_course, reason) in enumerate(
        [
            (homeroom, course, "time_conflict"),
            (homeroom, course, "quality"),
            (homeroom, course, "quality"),
            (homeroom, course, "illness"),
            (other_campus_homeroom, other_course, "time_conflict"),
            (other_campus_homeroom, other_course, "relocation"),
        ]
    ):
        order = paid_order(course=on_course, homeroom=teacher, amount="3000.00", paid_at=days_ago(60))
        requests.append(raw_request(order, reason=reason, submitted_at=days_ago(40 - 6 * n), amount="1000.00"))
    move(requests[0], "pending_homeroom", "approved", days_ago(33))
    move(requests[0], "approved", "paying", days_ago(32))
    move(requests[0], "paying", "refunded", days_ago(32, 11))
    move(requests[1], "pending_homeroom", "rejected", days_ago(30))
    move(requests[4], "pending_homeroom", "approved", days_ago(14))
    move(requests[4], "approved", "paying", days_ago(13))
    move(requests[4], "paying", "refunded", days_ago(13, 11))
    rebuild()
    return requests


def admin_login(page, live_server, user) -> None:
    page.goto(f"{live_server.url}/admin/")
    page.locator("#id_username").fill(user.username)
    page.locator("#id_password").fill(factories.PASSWORD)
    page.locator("#id_password").press("Enter")
    page.wait_for_url(f"{live_server.url}/admin/")


def charts_drawn(page) -> None:
    """Every chart has its canvas (ECharts drew it) and nothing failed on the page."""
    for key in ("series", "money", "dimension", "reasons"):
        chart = page.locator(f'[data-chart="{key}"]')
        expect(chart).to_have_attribute("data-rendered", "true")
        expect(chart.locator("canvas")).to_have_count(1)


def test_operations_compares_teachers_drills_down_and_exports(page, live_server, operations, school, tmp_path):
    page.context.add_init_script(COLLECT_VIOLATIONS)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    missing: list[str] = []
    page.on("response", lambda response: missing.append(response.url) if response.status == 404 else None)

    admin_login(page, live_server, operations.user)
    page.locator(f'a[href="{reverse("admin:analytics_dashboard")}"]').first.click()
    page.wait_for_url(f"{live_server.url}{reverse('admin:analytics_dashboard')}")
    charts_drawn(page)
    expect(page.locator(".analytics-card-applications .analytics-card-value")).to_have_text("6")
    expect(page.locator("#analytics-dimension")).to_contain_text("北京海淀校区")
    expect(page.locator("#analytics-dimension")).to_contain_text("上海徐汇校区")
    first = shot(page, "1-dashboard")

    # By homeroom teacher.
    page.locator("#id_dimension").select_option("teacher")
    page.locator("#analytics-show").click()
    page.wait_for_url("**dimension=teacher**")
    charts_drawn(page)
    by_teacher = page.locator("#analytics-dimension table")
    expect(by_teacher).to_contain_text("孙老师")
    expect(by_teacher).to_contain_text("吴老师")
    expect(page.locator("#analytics-reasons table")).to_contain_text("对教学质量不满意")
    shot(page, "2-by-teacher")

    # A click on 孙老师's bar opens his students' requests.
    page.locator('[data-chart="dimension"]').scroll_into_view_if_needed()
    point = page.evaluate(
        """() => {
            const element = document.querySelector('[data-chart="dimension"]');
            const chart = echarts.getInstanceByDom(element);
            const data = JSON.parse(document.getElementById('analytics-data').textContent);
            const index = data.dimension.labels.indexOf('孙老师');
            // The bar's rectangle as ECharts laid it out (the category's centre is between two bars).
            const bar = chart.getModel().getSeriesByIndex(0).getData().getItemLayout(index);
            const [x, y] = [bar.x + bar.width / 2, bar.y + bar.height / 2];
            const box = element.getBoundingClientRect();
            return { x: box.left + x, y: box.top + y };
        }"""
    )
    page.mouse.click(point["x"], point["y"])
    page.wait_for_url(lambda url: "/admin/refunds/refundrequest/?" in url)
    assert "order__enrollment__homeroom_teacher__id__exact" in page.url
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(4)
    expect(page.locator("#result_list")).not_to_contain_text("上海徐汇校区")
    shot(page, "3-drilled-from-chart")
    page.go_back()
    charts_drawn(page)

    # The table row of 吴老师 drills down too.
    by_teacher.get_by_role("link", name="吴老师").click()
    page.wait_for_url(lambda url: "/admin/refunds/refundrequest/?" in url)
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    page.go_back()

    # The export holds the figures of the page.
    with page.expect_download() as download:
        page.locator("#analytics-export").click()
    assert download.value.suggested_filename.endswith("_teacher.xlsx")
    target = tmp_path / download.value.suggested_filename
    download.value.save_as(target)
    sheet = openpyxl.load_workbook(target, read_only=True).active
    rows_by_label = {row[1]: row for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert rows_by_label["孙老师"][2] == 4
    assert rows_by_label["吴老师"][2] == 2
    assert Decimal(str(rows_by_label["吴老师"][6])) == Decimal("1000.00")
    this_period = next(row for row in sheet.iter_rows(min_row=2, values_only=True) if row[0] == zh("This period"))
    assert this_period[2] == 6

    violations = page.evaluate("window.__cspViolations || []")
    assert violations == []
    assert [url for url in missing if not url.endswith("/favicon.ico")] == []
    assert [e for e in errors if "status of 404" not in e] == []
    assert Path(first).exists()


@pytest.fixture
def course_alert(campus, supervisor):
    """The hot course of 北京海淀校区 above 10% for 30 days: an open alert and its review."""
    from analytics.alerts import alert_rules_run
    from analytics.models import AlertKind, AlertRule
    from tests.analytics.test_alerts import daily_rate

    course = factories.make_course(campus=campus)
    course.name = "雅思口语直播班"
    course.save()
    today = timezone.localdate()
    daily_rate(course, today - datetime.timedelta(days=30), 30, refunded_amount="300.00")
    AlertRule.objects.create(
        name="课程退费率连续 30 天高于 10%",
        kind=AlertKind.COURSE_REFUND_RATE,
        threshold=Decimal("10"),
        window_days=1,
        streak_days=30,
        minimum=1,
    )
    assert alert_rules_run(today=today) == 1
    return course


def test_operations_acts_on_an_alert_and_closes_the_course_review(page, live_server, operations, course_alert):
    from analytics.models import Alert, AlertStatus, CourseReview, CourseReviewStatus

    page.context.add_init_script(COLLECT_VIOLATIONS)
    admin_login(page, live_server, operations.user)
    page.goto(f"{live_server.url}{reverse('admin:analytics_dashboard')}")
    risk = page.locator("#analytics-risk")
    expect(risk).to_contain_text("1")
    risk.get_by_role("link").first.click()
    page.wait_for_url("**/admin/analytics/alert/**")
    expect(page.locator("#result_list")).to_contain_text("雅思口语直播班")
    shot(page, "4-alerts")

    # The alert: its figures, then "I am on it".
    page.locator("#result_list tbody tr a").first.click()
    shot(page, "4b-alert")
    expect(page.locator("body")).to_contain_text("30.0%")
    page.get_by_label(zh("Acknowledge: I am on it")).check()
    page.locator("#id_note").fill("已安排教学主管复查该课程")
    page.locator('input[name="_continue"]').click()
    expect(page.locator("#id_action_0")).to_be_visible()
    alert = Alert.objects.get()
    assert alert.status == AlertStatus.ACKNOWLEDGED and alert.acknowledged_by == operations.user

    # The course quality review the alert opened: findings, outcome, closed.
    page.locator(".field-review a").click()
    page.wait_for_url("**/admin/analytics/coursereview/**")
    page.locator("#id_findings").fill("第 3–5 讲直播卡顿，主讲老师两次迟到；学员反馈与宣传不符。")
    page.locator("#id_outcome").select_option("teacher_changed")
    page.locator("#id_outcome_note").fill("更换主讲老师，为受影响学员补课两节。")
    page.locator("#id_close").check()
    shot(page, "5-review")
    page.locator('input[name="_save"]').click()
    page.wait_for_url("**/admin/analytics/coursereview/")
    review = CourseReview.objects.get()
    assert review.status == CourseReviewStatus.CLOSED and review.closed_by == operations.user

    # Back to the alert: closed with what was done.
    page.goto(f"{live_server.url}{reverse('admin:analytics_alert_change', args=[alert.pk])}")
    page.get_by_label(zh("Close: it is handled")).check()
    page.locator("#id_note").fill("课程复查已完成：已更换主讲老师。")
    page.locator('input[name="_save"]').click()
    page.wait_for_url("**/admin/analytics/alert/")
    alert.refresh_from_db()
    assert alert.status == AlertStatus.CLOSED and alert.closed_by == operations.user
    shot(page, "6-alert-closed")

    # The rule's preview of the last 90 days opens beside the form, nothing saved.
    page.goto(f"{live_server.url}{reverse('admin:analytics_alertrule_change', args=[alert.rule_id])}")
    page.locator("#id_threshold").fill("50")
    with page.context.expect_page() as opened:
        page.get_by_role("button", name=zh("Preview the last 90 days (nothing is saved)")).click()
    preview = opened.value
    preview.wait_for_load_state()
    expect(preview.locator("#content-main")).to_contain_text(zh("Nothing: the rule would have stayed quiet."))
    shot(preview, "7-preview")
    assert page.evaluate("window.__cspViolations || []") == []
