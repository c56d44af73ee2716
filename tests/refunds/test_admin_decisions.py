"""The request page in the admin: the decision support it shows, in a fixed number of queries, and
the decisions taken from it, which drive the state machine exactly as the services do."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone, translation

from notifications.models import Notification
from orders.models import CourseType
from refunds.admin.decisions import ADJUST, APPROVE, REJECT, RETURN
from refunds.models import (
    ApprovalStep,
    RefundEvidence,
    RefundRequest,
    RefundStatus,
    RefundTransition,
    StepDecision,
)
from refunds.selectors import quote_lines_for_staff
from refunds.services import refund_approve, refund_reject, refund_return_for_info, refund_steps_escalate
from tests import factories

from .helpers import (
    DECISION_DATA,
    JPEG,
    PDF,
    approved_refund,
    decide_url,
    footprint,
    log_of,
    order_at,
    page_url,
    pdf,
    submit,
    submitted,
    zh,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def refund(student, homeroom, supervisor, campus):
    """¥900 to refund: homeroom teacher, then supervisor, then finance."""
    [made] = submitted(student=student, homeroom=homeroom, campus=campus)
    return made


def _page(client, user, refund) -> str:
    client.force_login(user)
    response = client.get(page_url(refund))
    assert response.status_code == 200
    return response.content.decode()


# --- The decision support -----------------------------------------------------------------------


def test_the_page_shows_the_students_learning_data(client, student, homeroom, campus):
    order = order_at(
        student=student,
        homeroom=homeroom,
        campus=campus,
        price="1000.00",
        study_seconds=5 * 3600 + 30 * 60,
        watch_progress=Decimal("36.50"),
        lessons_watched=11,
        live_sessions_attended=6,
        homework_submitted=9,
        last_learning_at=timezone.now() - datetime.timedelta(days=2),
    )
    refund = submit(order)
    page = _page(client, homeroom.user, refund)
    assert "5.5" in page  # hours of study
    assert "36.50%" in page
    assert "20.0%" in page  # 6 of 30 live sessions
    assert "30.0%" in page  # 9 homework of 30 lessons
    assert timezone.localtime(order.enrollment.last_learning_at).strftime("%Y-%m-%d %H:%M") in page


def test_the_page_shows_the_students_refunds_of_the_year_and_the_risk(client, student, homeroom, campus):
    student.high_risk = True
    student.high_risk_note = "疑似职业退费"
    student.save()
    earlier = approved_refund(
        order_at(student=student, homeroom=homeroom, campus=campus, price="500.00"),
        at=timezone.now() - datetime.timedelta(days=40),
    )
    ancient = approved_refund(
        order_at(student=student, homeroom=homeroom, campus=campus, price="500.00"),
        at=timezone.now() - datetime.timedelta(days=400),
    )
    ancient.request_no = "RFANCIENT"
    ancient.save()
    [refund] = submitted(student=student, homeroom=homeroom, campus=campus)
    page = _page(client, homeroom.user, refund)
    assert earlier.request_no in page
    assert "RFANCIENT" not in page
    assert "疑似职业退费" in page
    assert "risk-flag" in page


def test_the_page_shows_the_courses_refund_rate_and_average_rating(client, student, other_student, homeroom, campus):
    course = factories.make_course(campus=campus, price="1000.00")
    mine = factories.make_order(student=student, course=course, homeroom_teacher=homeroom, rating=2)
    refunded = factories.make_order(student=other_student, course=course, homeroom_teacher=homeroom, rating=5)
    factories.make_order(student=factories.make_student(campus=campus), course=course, homeroom_teacher=homeroom)
    approved_refund(refunded, at=timezone.now() - datetime.timedelta(days=1))
    refund = submit(mine)
    page = _page(client, homeroom.user, refund)
    assert "33.3%" in page  # one of three orders refunded
    assert "3.5 / 5" in page  # ratings 2 and 5


def test_the_page_shows_the_quote_lines_the_route_and_the_log(client, refund, homeroom):
    page = _page(client, homeroom.user, refund)
    # The lines as staff read them: computed again from the snapshot, in the page's language.
    with translation.override("zh-hans"):
        lines = quote_lines_for_staff(snapshot=refund.quote, order=refund.order)
    assert len(lines) == refund.quote.lines.count()
    for line in lines:
        assert line.label in page
    assert "¥900.00" in page
    assert zh("Teaching supervisor review") in page  # the tier ahead
    assert "孙老师" in page  # the person of the current step
    assert f"<td>{zh('Submitted')}</td>" in page  # the log names the action, not its code


def test_the_page_previews_the_evidence_through_the_checked_view(client, student, homeroom, campus):
    order = order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00")
    refund = submit(
        order,
        reason="illness",
        evidence=[pdf("诊断证明.pdf"), _upload("化验单.jpg", JPEG)],
    )
    page = _page(client, homeroom.user, refund)
    pdf_row, jpeg_row = RefundEvidence.objects.filter(request=refund).order_by("pk")
    assert f'<iframe class="evidence-preview" src="/refunds/evidence/{pdf_row.pk}/"' in page
    assert f'<img class="evidence-preview" src="/refunds/evidence/{jpeg_row.pk}/"' in page
    assert "/media/" not in page
    client.force_login(homeroom.user)
    response = client.get(f"/refunds/evidence/{pdf_row.pk}/")
    assert response.status_code == 200
    assert response["X-Frame-Options"] == "SAMEORIGIN"  # the preview frame may show it


def test_the_page_lists_the_notifications_sent_and_the_history(client, refund, student, homeroom):
    refund_approve(request_id=refund.pk, actor=homeroom.user, comment="情况属实。")
    page = _page(client, homeroom.user, refund)
    assert "您的退费申请已提交" in page
    assert "情况属实。" in page
    assert page.count('id="history"') == 1
    assert f"/admin/refunds/refundrequest/{refund.pk}/history/" in page


def _upload(name, content):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


# --- Buttons only for who may decide now ------------------------------------------------------


def test_the_approver_sees_the_four_decisions(client, refund, homeroom):
    page = _page(client, homeroom.user, refund)
    for action in (APPROVE, REJECT, RETURN, ADJUST):
        assert f'href="{decide_url(refund, action)}"' in page


@pytest.mark.parametrize("who", ["supervisor", "finance", "campus_head", "operations"])
def test_the_others_see_no_button_and_why(client, refund, request, who):
    staff = request.getfixturevalue(who)
    page = _page(client, staff.user, refund)
    assert "/decide/" not in page
    assert "decision-blocked" in page


def test_the_person_a_step_was_escalated_to_may_decide_it(client, refund, supervisor):
    refund_steps_escalate(now=timezone.now() + datetime.timedelta(hours=25))
    page = _page(client, supervisor.user, refund)
    assert f'href="{decide_url(refund, APPROVE)}"' in page
    assert "escalated" in page


def test_a_contract_course_offers_the_last_approval_only_once_the_amount_is_set(
    client, student, homeroom, supervisor, campus_head, finance, campus
):
    refund = submit(
        order_at(student=student, homeroom=homeroom, campus=campus, price="3000.00", course_type=CourseType.PREMIUM)
    )
    assert refund.quote.needs_approver_amount
    for staff in (homeroom, supervisor, campus_head):
        refund_approve(request_id=refund.pk, actor=staff.user)
    page = _page(client, finance.user, refund)
    assert decide_url(refund, APPROVE) not in page
    assert decide_url(refund, ADJUST) in page
    assert zh("This course is refunded by contract: set the amount before the last approval.") in page
    client.force_login(finance.user)
    client.post(decide_url(refund, ADJUST), {"amount": "2000.00", "reason": "按合同约定退还未上课时。"})
    assert decide_url(refund, APPROVE) in _page(client, finance.user, refund)


# --- Decisions drive the state machine exactly as the services do -----------------------------


def _shape(refund_id: int) -> dict:
    """What a decision changes, without the times and ids that differ between two requests."""
    print_ = footprint(refund_id)
    return {
        "status": print_["status"],
        "route": print_["route"],
        "route_position": print_["route_position"],
        "approved_amount": print_["approved_amount"],
        "steps": [(tier, decision, decided_by) for _pk, tier, decision, decided_by, _esc in print_["steps"]],
        "transitions": print_["transitions"],
        "events": print_["events"],
        "history": print_["history"],
        "log": [(name, a, b) for name, a, b in log_of(RefundRequest.objects.get(pk=refund_id))],
    }


SERVICE_CALLS = {
    APPROVE: lambda refund, user: refund_approve(request_id=refund.pk, actor=user, comment="同意退费。"),
    REJECT: lambda refund, user: refund_reject(request_id=refund.pk, actor=user, reason="已超过退费期限。"),
    RETURN: lambda refund, user: refund_return_for_info(request_id=refund.pk, actor=user, missing="请补充证明。"),
}


@pytest.mark.parametrize("action", [APPROVE, REJECT, RETURN])
def test_a_decision_from_the_admin_changes_what_the_service_changes(
    client, student, homeroom, supervisor, campus, action
):
    by_admin, by_service = submitted(student=student, homeroom=homeroom, campus=campus, count=2)
    before = footprint(by_admin.pk)
    client.force_login(homeroom.user)
    response = client.post(decide_url(by_admin, action), DECISION_DATA[action])
    assert response.status_code == 302
    assert response["Location"] == page_url(by_admin)
    SERVICE_CALLS[action](by_service, homeroom.user)
    assert _shape(by_admin.pk) == _shape(by_service.pk)
    after = footprint(by_admin.pk)
    assert after["transitions"] == before["transitions"] + 1  # one log row
    assert after["history"] == before["history"] + 1  # one history row
    last = RefundTransition.objects.filter(request=by_admin).latest("created_at", "pk")
    assert last.actor == homeroom.user
    assert last.comment == next(iter(DECISION_DATA[action].values()))


def test_the_approval_moves_the_request_on_and_says_so(client, refund, homeroom):
    client.force_login(homeroom.user)
    response = client.post(decide_url(refund, APPROVE), {"comment": "同意。"}, follow=True)
    refund.refresh_from_db()
    assert refund.status == RefundStatus.PENDING_SUPERVISOR
    assert [str(m) for m in response.context["messages"]] == [
        zh("Refund request %(no)s approved: %(status)s.")
        % {"no": refund.request_no, "status": zh("Waiting for the teaching supervisor")}
    ]
    step = ApprovalStep.objects.get(request=refund, tier="homeroom")
    assert (step.decision, step.decided_by, step.comment) == (
        StepDecision.APPROVED,
        refund.order.enrollment.homeroom_teacher,
        "同意。",
    )


def test_the_amount_is_adjusted_with_its_reason(client, refund, homeroom):
    client.force_login(homeroom.user)
    response = client.post(decide_url(refund, ADJUST), DECISION_DATA[ADJUST])
    assert response.status_code == 302
    refund.refresh_from_db()
    assert (refund.approved_amount, refund.amount_confirmed) == (Decimal("800.00"), True)
    assert log_of(refund)[-1] == ("adjust_amount", RefundStatus.PENDING_HOMEROOM, RefundStatus.PENDING_HOMEROOM)


@pytest.mark.parametrize(
    ("action", "data"),
    [
        (REJECT, {"reason": ""}),
        (REJECT, {"reason": "   "}),
        (RETURN, {"missing": ""}),
        (ADJUST, {"amount": "", "reason": "少退一点。"}),
        (ADJUST, {"amount": "800.00", "reason": ""}),
        (ADJUST, {"amount": "-1", "reason": "负数。"}),
        (ADJUST, {"amount": "abc", "reason": "不是数字。"}),
    ],
)
def test_a_decision_without_what_it_needs_is_refused_on_the_form(client, refund, homeroom, action, data):
    before = footprint(refund.pk)
    client.force_login(homeroom.user)
    response = client.post(decide_url(refund, action), data)
    assert response.status_code == 200
    assert response.context["form"].errors
    assert footprint(refund.pk) == before


def test_an_amount_above_what_the_order_can_refund_is_refused_by_the_service(client, refund, homeroom):
    before = footprint(refund.pk)
    client.force_login(homeroom.user)
    response = client.post(decide_url(refund, ADJUST), {"amount": "1000.01", "reason": "全额退。"}, follow=True)
    assert footprint(refund.pk) == before
    assert [m.level_tag for m in response.context["messages"]] == ["error"]


def test_the_second_click_changes_nothing(client, refund, homeroom):
    client.force_login(homeroom.user)
    client.post(decide_url(refund, APPROVE), {"comment": ""}, follow=True)
    after_first = footprint(refund.pk)
    response = client.post(decide_url(refund, APPROVE), {"comment": ""}, follow=True)
    assert footprint(refund.pk) == after_first
    assert [m.level_tag for m in response.context["messages"]] == ["error"]


def test_a_decision_needs_the_csrf_token(refund, homeroom):
    client = Client(enforce_csrf_checks=True)
    client.force_login(homeroom.user)
    before = footprint(refund.pk)
    assert client.post(decide_url(refund, APPROVE), {"comment": ""}).status_code == 403
    assert footprint(refund.pk) == before


# --- The confirmation pages -------------------------------------------------------------------


def test_the_confirmation_says_where_the_approval_leads(client, refund, homeroom):
    client.force_login(homeroom.user)
    response = client.get(decide_url(refund, APPROVE))
    assert response.status_code == 200
    assert zh("Teaching supervisor review") in response.context["outcome"]
    assert zh("Finance approval") in response.context["outcome"]
    assert 'name="csrfmiddlewaretoken"' in response.content.decode()


def test_the_confirmation_of_a_small_request_mentions_the_automatic_check(client, student, homeroom, campus):
    [small] = submitted(student=student, homeroom=homeroom, campus=campus, price="300.00")
    client.force_login(homeroom.user)
    assert "¥270.00" in client.get(decide_url(small, APPROVE)).context["outcome"]


def test_the_confirmation_of_the_last_tier_says_approved(client, refund, homeroom, supervisor, finance):
    refund_approve(request_id=refund.pk, actor=homeroom.user)
    refund_approve(request_id=refund.pk, actor=supervisor.user)
    client.force_login(finance.user)
    outcome = client.get(decide_url(refund, APPROVE)).context["outcome"]
    assert "¥900.00" in outcome and zh("Teaching supervisor review") not in outcome


def test_the_confirmation_of_a_rejection_gives_the_appeal_window(client, refund, homeroom):
    client.force_login(homeroom.user)
    response = client.get(decide_url(refund, REJECT))
    assert "7" in response.context["outcome"]
    assert 'name="reason"' in response.content.decode()


def test_someone_who_may_not_decide_is_sent_back_with_the_reason(client, refund, supervisor):
    before = footprint(refund.pk)
    client.force_login(supervisor.user)
    response = client.get(decide_url(refund, APPROVE), follow=True)
    assert response.redirect_chain == [(page_url(refund), 302)]
    assert [m.level_tag for m in response.context["messages"]] == ["error"]
    assert footprint(refund.pk) == before


def test_an_unknown_decision_is_404(client, refund, homeroom):
    client.force_login(homeroom.user)
    assert client.get(decide_url(refund, APPROVE).replace("/approve/", "/pay/")).status_code == 404


# --- A fixed number of queries however long the request's records are -------------------------


# session, user, 2 permissions, staff, the request (order, course, enrollment, student, quote), steps, log,
# quote lines, evidence, notifications, history, the student's refunds, the course's figures
PAGE_QUERIES = 15


def _lengthen(refund, *, rows: int) -> None:
    """``rows`` more of every record the page lists: log rows, closed steps, evidence, messages, history."""
    now = timezone.now()
    user = refund.student.user
    for n in range(rows):
        RefundTransition.objects.create(
            request=refund, name="note", from_status=refund.status, to_status=refund.status, created_at=now
        )
        ApprovalStep.objects.create(
            request=refund,
            tier="homeroom",
            assignee=refund.order.enrollment.homeroom_teacher,
            decision=StepDecision.RETURNED,
            decided_by=refund.order.enrollment.homeroom_teacher,
            created_at=now - datetime.timedelta(hours=n + 1),
            due_at=now,
            decided_at=now,
        )
        RefundEvidence.objects.create(
            request=refund,
            file=f"evidence/x{n}.pdf",
            original_name=f"{n}.pdf",
            content_type="application/pdf",
            size=len(PDF),
            sha256="0" * 64,
        )
        Notification.objects.create(
            dedupe_key=f"test:{n}",
            recipient_key=f"user:{user.pk}",
            event="refund.submitted",
            channel="inbox",
            refund_request=refund,
            recipient=user,
            subject=f"消息{n}",
            body="…",
            created_at=now,
        )
        refund.save()  # a history row
        approved_refund(
            order_at(
                student=refund.student,
                homeroom=refund.order.enrollment.homeroom_teacher,
                campus=refund.campus,
                price="100.00",
            ),
            at=now - datetime.timedelta(days=n + 1),
        )


@pytest.mark.parametrize("rows", [1, 30])
def test_the_request_page_takes_a_fixed_number_of_queries(client, refund, homeroom, rows, django_assert_num_queries):
    written = refund.notifications.count()  # the outbox rows of its submission
    _lengthen(refund, rows=rows)
    client.force_login(homeroom.user)
    client.get(page_url(refund))  # content types and the like, cached for the process
    with django_assert_num_queries(PAGE_QUERIES):
        response = client.get(page_url(refund))
    review = response.context["review"]
    assert len(review.transitions) == rows + 1
    assert len(review.evidence) == rows
    assert len(review.notifications) == written + rows


# --- Appeals and the next request -----------------------------------------------------------------


def test_an_appeal_says_so_on_top_with_the_rejection_it_answers(client, refund, homeroom, supervisor, student):
    from refunds.services import refund_appeal

    refund_reject(request_id=refund.pk, actor=homeroom.user, reason="已超过退费期限。")
    refund_appeal(student=student, request_id=refund.pk, reason="我当时在住院，有诊断证明。")
    html = _page(client, supervisor.user, refund)
    notice = html.index('id="appeal-notice"')
    assert notice < html.index('id="learning-panel"')  # at the top, not below the record
    assert "我当时在住院，有诊断证明。" in html[notice:]
    assert "已超过退费期限。" in html[notice:]
    assert zh("Decision on the student's appeal") in html


def test_an_ordinary_request_has_no_appeal_notice(client, refund, homeroom):
    assert 'id="appeal-notice"' not in _page(client, homeroom.user, refund)


def test_after_a_decision_the_page_offers_the_next_in_the_queue(client, student, homeroom, campus):
    first, second = submitted(student=student, homeroom=homeroom, campus=campus, count=2)
    client.force_login(homeroom.user)
    response = client.post(decide_url(first, APPROVE), DECISION_DATA[APPROVE], follow=True)
    assert response.status_code == 200
    assert response.context["next_in_queue"].pk == second.pk
    html = response.content.decode()
    assert f'id="next-in-queue" href="{page_url(second)}"' in html
    # The last one decided: nothing to offer.
    response = client.post(decide_url(second, APPROVE), DECISION_DATA[APPROVE], follow=True)
    assert response.context["next_in_queue"] is None
    assert 'id="next-in-queue"' not in response.content.decode()
