from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from . import selectors


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The personal center: the student's orders with their learning progress."""
    student = selectors.student_for_user(user=request.user)
    if student is None:
        if request.user.is_staff:
            return redirect("admin:index")
        return render(request, "students/not_a_student.html", status=403)
    orders = selectors.order_list_for_student(student=student)
    return render(request, "students/home.html", {"student": student, "orders": orders})
