"""A school to watch, built with the ORM for the learning watch's tests (tests/service/test_watch*.py).

Every time is relative to ``now`` (the selectors' tests pass it; the page's use the real clock).

    北京海淀校区 (campus, default settings: 7 days, 20 points, 60):
      course A "雅思听力": 20 lessons, started 10 days ago, ends in 10 days (50 % of its time gone)
        孙老师 (homeroom, manager 钱主管):
          ok        10 lessons, 8 homework, tests 2 at 85.00, learned 1 day ago        no flag
          day7      6 lessons (30 %: exactly 20 points behind), learned 7 days ago     inactive
          day6      5 lessons (25 %), learned 6 days 23 h 59 min ago                   behind
          low       10 lessons, tests 1 at 59.99, learned 2 hours ago                  low scores
          sixty     10 lessons, tests 3 at 60.00, learned 2 hours ago                  no flag
          never     0 lessons, never learned (paid before the start)                   inactive, behind
          refunded  a refunded order: never on the watch
        李老师 (homeroom, no manager):
          li        12 lessons, learned 3 days ago                                      no flag
      course B "托福阅读" (upcoming: starts in 5 days):
          upcoming  孙老师's, never learned                                             no flag
    上海徐汇校区 (other_campus, settings: 3 days, 10 points, 70):
      course C "雅思口语": 10 lessons, started 10 days ago, ends in 10 days
          wu        吴老师 (no manager), 3 lessons (30 %), learned 3 days ago, tests 1 at 65   inactive, behind, low
          zheng     郑老师 (manager 钱主管, of the other campus), 5 lessons, learned 1 hour ago  no flag
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from orders.models import OrderStatus
from schoolops.models import Campus, Staff, StaffRole
from service.models import ServiceSettings
from students.models import Enrollment
from tests import factories

DAY = datetime.timedelta(days=1)
HOUR = datetime.timedelta(hours=1)


@dataclass
class School:
    now: datetime.datetime
    sun: Staff
    li: Staff
    wu: Staff
    zheng: Staff
    enrollments: dict[str, Enrollment] = field(default_factory=dict)

    def names(self, rows) -> list[str]:
        """The keys of the enrollments in ``rows`` (WatchRows), in their order."""
        by_pk = {e.pk: key for key, e in self.enrollments.items()}
        return [by_pk[row.enrollment_id] for row in rows]


def enroll(course, teacher, *, name: str, paid_at, **progress) -> Enrollment:
    student = factories.make_student(campus=course.campus, name=name)
    order = factories.make_order(student=student, course=course, homeroom_teacher=teacher, paid_at=paid_at, **progress)
    return order.enrollment


def build_school(
    *,
    now: datetime.datetime,
    campus: Campus,
    other_campus: Campus,
    homeroom: Staff,
    supervisor: Staff,
    other_campus_homeroom: Staff,
) -> School:
    li = factories.make_staff(role=StaffRole.HOMEROOM, campus=campus, name="李老师")
    zheng = factories.make_staff(role=StaffRole.HOMEROOM, campus=other_campus, manager=supervisor, name="郑老师")
    ServiceSettings.objects.create(campus=other_campus, inactive_days=3, behind_points=10, low_score=70)
    school = School(now=now, sun=homeroom, li=li, wu=other_campus_homeroom, zheng=zheng)

    a = factories.make_course(campus=campus, lessons=20, starts_at=now - 10 * DAY, days=20)
    a.name = "雅思听力"
    a.save(update_fields=["name"])
    b = factories.make_course(campus=campus, lessons=20, starts_at=now + 5 * DAY, days=30)
    b.name = "托福阅读"
    b.save(update_fields=["name"])
    c = factories.make_course(campus=other_campus, lessons=10, starts_at=now - 10 * DAY, days=20)
    c.name = "雅思口语"
    c.save(update_fields=["name"])
    paid = now - 12 * DAY

    e = school.enrollments
    e["ok"] = enroll(
        a,
        homeroom,
        name="甲同学",
        paid_at=paid,
        lessons_consumed=10,
        homework_submitted=8,
        tests_taken=2,
        test_score_avg=Decimal("85.00"),
        last_learning_at=now - DAY,
        watch_progress=Decimal("45.00"),
    )
    e["day7"] = enroll(a, homeroom, name="乙同学", paid_at=paid, lessons_consumed=6, last_learning_at=now - 7 * DAY)
    e["day6"] = enroll(
        a,
        homeroom,
        name="丙同学",
        paid_at=paid,
        lessons_consumed=5,
        last_learning_at=now - 7 * DAY + datetime.timedelta(minutes=1),
    )
    e["low"] = enroll(
        a,
        homeroom,
        name="丁同学",
        paid_at=paid,
        lessons_consumed=10,
        homework_submitted=5,
        tests_taken=1,
        test_score_avg=Decimal("59.99"),
        last_learning_at=now - 2 * HOUR,
    )
    e["sixty"] = enroll(
        a,
        homeroom,
        name="戊同学",
        paid_at=paid,
        lessons_consumed=10,
        homework_submitted=10,
        tests_taken=3,
        test_score_avg=Decimal("60.00"),
        last_learning_at=now - 2 * HOUR,
    )
    e["never"] = enroll(a, homeroom, name="己同学", paid_at=paid)
    refunded = enroll(a, homeroom, name="退费同学", paid_at=paid, last_learning_at=now - 30 * DAY)
    order = refunded.order
    order.status, order.refunded_total = OrderStatus.REFUNDED, order.amount_paid
    order.save(update_fields=["status", "refunded_total"])
    e["li"] = enroll(a, li, name="庚同学", paid_at=paid, lessons_consumed=12, last_learning_at=now - 3 * DAY)
    e["upcoming"] = enroll(b, homeroom, name="辛同学", paid_at=paid)
    e["wu"] = enroll(
        c,
        other_campus_homeroom,
        name="壬同学",
        paid_at=paid,
        lessons_consumed=3,
        tests_taken=1,
        test_score_avg=Decimal("65.00"),
        last_learning_at=now - 3 * DAY,
    )
    e["zheng"] = enroll(c, zheng, name="癸同学", paid_at=paid, lessons_consumed=5, last_learning_at=now - HOUR)
    return school
