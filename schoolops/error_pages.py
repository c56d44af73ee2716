"""The school's own error pages (404, 403, 500) instead of Django's, in the reader's language.

In production Django's handlers render ``404.html`` and ``403.html`` with the request's context;
``server_error`` renders ``500.html`` without running any context processor (the database may be
what failed). With ``DEBUG`` on (``make run``) Django answers a wrong link with its technical page,
which a student should never see: ``BrandedNotFoundMiddleware`` puts the school's page in its place
outside the admin, for anyone but staff.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound, HttpResponseServerError
from django.template import loader


def server_error(request: HttpRequest) -> HttpResponse:
    """The 500 page: a plain template, the school's name, no database."""
    template = loader.get_template("500.html")
    return HttpResponseServerError(template.render({"school_name": settings.SCHOOL_NAME}))


class BrandedNotFoundMiddleware:
    """With DEBUG on: a student's (or a visitor's) wrong link gets the school's 404 page, not the
    technical one; staff and the admin keep Django's (it names the URL patterns tried)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not settings.DEBUG or response.status_code != 404:
            return response
        if request.path.startswith("/admin/") or getattr(request.user, "is_staff", False):
            return response
        if not response.get("Content-Type", "").startswith("text/html"):
            return response
        html = loader.render_to_string("404.html", {"request_path": request.path}, request=request)
        return HttpResponseNotFound(html)
