"""The first-lesson question (第一节课感觉怎么样？): three answers and a few words, from the message's
link or the card on her orders. A bad answer gives her homeroom teacher a task due within a day."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from orders.models import ACTIVE_ORDER_STATUSES, Order
from service.models import FeedbackAnswer, LessonFeedback
from service.selectors import lesson_feedback_for
from service.services import ServiceError, feedback_answer

from .. import selectors
from ..forms import LessonFeedbackForm
from .common import StudentRequest, student_page


def _may_answer(order: Order, feedback: LessonFeedback | None) -> bool:
    """Not answered yet, on an order that stands, once asked or once the course has begun."""
    if feedback is not None and feedback.answer:
        return False
    if order.status not in ACTIVE_ORDER_STATUSES:
        return False
    return feedback is not None or order.course.starts_at <= timezone.now()


@require_http_methods(["GET", "POST"])
@student_page
def lesson_feedback(request: StudentRequest, order_no: str) -> HttpResponseBase:
    order = selectors.order_list_for_student(student=request.student).filter(order_no=order_no).first()
    enrollment = getattr(order, "enrollment", None) if order is not None else None
    if order is None or enrollment is None:
        raise Http404("No such order among yours.")
    feedback = lesson_feedback_for(enrollment_id=enrollment.pk)
    may_answer = _may_answer(order, feedback)
    form = LessonFeedbackForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if not may_answer:
            answered = feedback is not None and feedback.answer
            messages.info(
                request,
                _("You have answered already. Thank you!") if answered else _("There is no question to answer here."),
            )
            return redirect("portal:lesson_feedback", order_no=order.order_no)
        if form.is_valid():
            try:
                feedback_answer(
                    enrollment=enrollment,
                    answer=form.cleaned_data["answer"],
                    comment=form.cleaned_data["comment"],
                )
            except ServiceError as exc:
                messages.error(request, " ".join(exc.messages))
            # The page itself thanks her with her answer.
            return redirect("portal:lesson_feedback", order_no=order.order_no)
    context = {
        "order": order,
        "feedback": feedback if feedback is not None and feedback.answer else None,
        "form": form if may_answer else None,
        "teacher": enrollment.homeroom_teacher,
        "bad": FeedbackAnswer.BAD,
    }
    return render(request, "portal/lesson_feedback.html", context, status=400 if form.errors else 200)


urlpatterns = [
    path("orders/<str:order_no>/feedback/", lesson_feedback, name="lesson_feedback"),
]
