"""The demo's tickets, made through the service desk's services as a student and staff would:
a question answered, resolved and rated, a complaint left alone past its clock (escalated), a
technical problem waiting for the student, a phone complaint resolved, archived with its root
cause and rated, a refund dispute about a small request still waiting (customer service can
approve it from the ticket), a fresh urgent question; and students who found their answer in the
help center."""

from __future__ import annotations

import datetime

from django.core.files.uploadedfile import SimpleUploadedFile

from orders.models import Order
from refunds.models import PENDING_STATES, RefundRequest
from refunds.selectors import approval_settings_for
from schoolops.models import Campus, Staff, StaffRole
from servicedesk.helpcenter import help_article_solved
from servicedesk.models import (
    HelpArticle,
    HelpSection,
    RootCause,
    SolutionKind,
    Ticket,
    TicketCategory,
    TicketChannel,
    TicketPriority,
)
from servicedesk.satisfaction import rating_for_ticket
from servicedesk.services import (
    ticket_archive,
    ticket_assess,
    ticket_open,
    ticket_register,
    ticket_reply,
    ticket_resolve,
    tickets_escalate,
)

SCREENSHOT = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde" + (
    b"\x00\x00\x00\x0cIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82"
)


def seed_tickets(campus: Campus, staff: dict[str, list[Staff]], now: datetime.datetime) -> int:
    """The campus's demo tickets (none if it has tickets already); returns how many were opened."""
    if Ticket.objects.filter(campus=campus).exists():
        return 0
    agent = staff[StaffRole.SERVICE][0].user
    orders = list(
        Order.objects.filter(course__campus=campus, refund_requests__isnull=True)
        .select_related("student", "course", "enrollment__homeroom_teacher")
        .order_by("order_no")[:6]
    )
    if len(orders) < 5:
        return 0
    days = datetime.timedelta(days=1)

    question = ticket_open(
        student=orders[0].student,
        category=TicketCategory.QUESTION,
        subject="课程有效期到什么时候？",
        description=f"《{orders[0].course.name}》的回放可以看到什么时候？过期后还能续吗？",
        order_id=orders[0].pk,
        at=now - 3 * days,
    )
    ticket_reply(
        actor=agent,
        ticket_id=question.pk,
        body="您好，回放在课程结束后 180 天内都可以观看，到期前 7 天会提醒您续期。",
        at=now - 3 * days + datetime.timedelta(hours=1),
    )
    ticket_resolve(
        actor=agent,
        ticket_id=question.pk,
        solution_kind=SolutionKind.ANSWER,
        solution="已说明回放有效期与续期方式。",
        at=now - 3 * days + datetime.timedelta(hours=2),
    )

    ticket_open(
        student=orders[1].student,
        category=TicketCategory.COMPLAINT,
        subject="直播课老师多次迟到",
        description="这两周的直播课老师有三次迟到超过十分钟，课后也没有补时，希望给个说法。",
        order_id=orders[1].pk,
        at=now - 4 * days,
    )

    waiting = ticket_open(
        student=orders[2].student,
        category=TicketCategory.TECHNICAL,
        subject="App 里看不了回放",
        description="安卓手机打开回放一直转圈，换了网络也不行。",
        attachments=[SimpleUploadedFile("screen.png", SCREENSHOT, content_type="image/png")],
        at=now - days,
    )
    ticket_reply(
        actor=agent, ticket_id=waiting.pk, body="技术同事怀疑是旧版本 App 的问题。", internal=True, at=now - days
    )
    ticket_reply(
        actor=agent,
        ticket_id=waiting.pk,
        body="您好，请问您的 App 版本号是多少？在“我的-设置-关于”里可以看到，麻烦截图发给我们。",
        wait_for_student=True,
        at=now - days + datetime.timedelta(minutes=40),
    )

    call = ticket_register(
        actor=agent,
        student_id=orders[3].student.pk,
        channel=TicketChannel.PHONE,
        contact_name=f"{orders[3].student.name}的家长",
        contacted_at=now - 6 * days,
        category=TicketCategory.COMPLAINT,
        subject="班主任回复太慢",
        description="家长来电：给班主任发消息两天没有回复，孩子的作业问题一直没人解答。",
        order_id=orders[3].pk,
        at=now - 6 * days,
    )
    ticket_assess(
        actor=agent,
        ticket_id=call.pk,
        finding="核实属实：班主任休假期间未设置代理人，消息无人处理。",
        policy_point="班主任服务规范：学员消息 24 小时内回复",
        at=now - 6 * days + datetime.timedelta(hours=1),
    )
    ticket_resolve(
        actor=agent,
        ticket_id=call.pk,
        solution_kind=SolutionKind.COMPENSATION,
        solution="已安排主管当天回电致歉并解答作业问题，赠送一节一对一答疑课。",
        compensation="200.00",
        at=now - 6 * days + datetime.timedelta(hours=3),
    )
    teacher = orders[3].enrollment.homeroom_teacher
    ticket_archive(
        actor=agent,
        ticket_id=call.pk,
        root_cause=RootCause.TEACHER,
        teacher_id=teacher.pk,
        note="班主任休假须设置代理人；已在周会通报。",
        at=now - 5 * days,
    )

    # A dispute about a small request still waiting: customer service can approve it from the ticket.
    limit = approval_settings_for(campus=campus.pk).service_limit
    pending = RefundRequest.objects.filter(campus=campus, status__in=PENDING_STATES).select_related("student")
    refund = pending.filter(approved_amount__lte=limit).order_by("pk").first() or pending.order_by("pk").first()
    if refund is not None:
        ticket_open(
            student=refund.student,
            category=TicketCategory.REFUND_DISPUTE,
            subject="退费金额和我算的不一样",
            description=f"申请 {refund.request_no} 的退费金额比我按已上课时算的少，想了解扣费明细。",
            refund_request_id=refund.pk,
            at=now - datetime.timedelta(hours=5),
        )

    ticket_open(
        student=orders[4].student,
        category=TicketCategory.QUESTION,
        subject="今晚直播课的链接打不开",
        description="今晚 19:30 的直播课，点进入教室提示“课程不存在”。",
        priority=TicketPriority.URGENT,
        urgent_reason="还有一个小时就上课了",
        order_id=orders[4].pk,
        at=now - datetime.timedelta(minutes=10),
    )
    tickets_escalate(now=now)
    rating_for_ticket(student=question.student, ticket_no=question.ticket_no, score=5, comment="回复很及时，谢谢！")
    rating_for_ticket(student=call.student, ticket_no=call.ticket_no, score=3, comment="结果满意，但前两天一直没人理。")
    arrival = HelpArticle.objects.filter(section=HelpSection.REFUNDS).order_by("position").first()
    if arrival is not None:
        for order in orders[:3]:
            help_article_solved(article_id=arrival.pk, student=order.student)
    return Ticket.objects.filter(campus=campus).count()
