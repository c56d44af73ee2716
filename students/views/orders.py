"""Orders and refunds (订单与退费): the list, one order's breakdown and policy, the estimate."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_GET

from .. import selectors
from .common import student_page


@require_GET
@student_page
def home(request: HttpRequest) -> HttpResponse:
    """The personal center: the student's orders with their learning progress."""
    orders = selectors.order_list_for_student(student=request.student)
    return render(request, "students/home.html", {"student": request.student, "orders": orders})


urlpatterns = [
    path("", home, name="home"),
]
