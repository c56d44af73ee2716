"""What every personal-center page shares: who the student is, and the way in."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Concatenate, ParamSpec, cast

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import redirect, render

from schoolops.models import User
from students.models import Student

from .. import selectors

P = ParamSpec("P")


class StudentRequest(HttpRequest):
    """The request a student page receives: a logged-in user with her student record."""

    user: User
    student: Student


def student_page(
    view: Callable[Concatenate[StudentRequest, P], HttpResponseBase],
) -> Callable[Concatenate[HttpRequest, P], HttpResponseBase]:
    """Log in first; staff go to the admin; anyone else without a student record gets 403.

    The view receives ``request.student``: every lookup it makes starts from her.
    """

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
        student = selectors.student_for_user(user=request.user)
        if student is None:
            if request.user.is_staff:
                return redirect("admin:index")
            return render(request, "portal/not_a_student.html", status=403)
        page = cast(StudentRequest, request)  # logged in (login_required) and hers, as the class says
        page.student = student
        return view(page, *args, **kwargs)

    return wrapper
