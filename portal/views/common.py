"""What every personal-center page shares: who the student is, and the way in."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from .. import selectors


def student_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Log in first; staff go to the admin; anyone else without a student record gets 403.

    The view receives ``request.student``: every lookup it makes starts from her.
    """

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        student = selectors.student_for_user(user=request.user)
        if student is None:
            if request.user.is_staff:
                return redirect("admin:index")
            return render(request, "portal/not_a_student.html", status=403)
        request.student = student
        return view(request, *args, **kwargs)

    return wrapper
