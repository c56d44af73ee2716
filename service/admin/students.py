"""The student page of student service, and the contact log.

The student page (``admin:service_student``, /admin/service/contactlog/student/<student id>/) is
what a homeroom teacher opens from a task: her learning per enrollment, her orders, refund
requests, tickets, the messages sent to her, her open tasks and the contact log (logged contacts
merged with the replies to her tickets, newest first), with a form to record a call, chat or
visit (``contact_record``). It is open to holders of ``service.view_contactlog`` for the students
they may see (``students_visible_to``: a homeroom teacher the students she serves, others their
campus); any other student answers 404.

The contact log's own list is read only: contacts are added by tasks, tickets and the form above.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from schoolops.admin_mixins import ReadOnlyAdminMixin, acting_user_with
from schoolops.scoping import CampusScopedAdminMixin

from ..models import ContactLog
from ..selectors import student_page_for_staff, students_visible_to
from ..services import ServiceError, contact_record
from .forms import ContactForm, service_errors_to_form
from .tasks import SERVICE_CSS, error_summary, figures_line

VIEW_PERMISSION = "service.view_contactlog"
RECORD_PERMISSION = "service.add_contactlog"


@admin.register(ContactLog)
class ContactLogAdmin(ReadOnlyAdminMixin, CampusScopedAdminMixin, admin.ModelAdmin):
    campus_field = "student__campus"
    list_display = ("at", "student_column", "staff", "channel", "minutes", "source", "summary_column")
    list_display_links = ("at",)
    list_filter = ("channel", "source")
    list_select_related = ("student__user", "staff__user")
    search_fields = ("student__user__name", "student__user__phone", "student__student_no")
    search_help_text = _("The student's name, phone or student number.")
    list_per_page = 50
    show_full_result_count = False
    date_hierarchy = "at"

    class Media:
        css = SERVICE_CSS

    def get_queryset(self, request: HttpRequest) -> QuerySet[ContactLog]:
        students = students_visible_to(user=request.user, today=timezone.localdate())  # type: ignore[arg-type]  # staff: a User
        return ContactLog.objects.filter(student__in=students.values("pk")).order_by("-at", "-pk")

    @admin.display(description=_("student"), ordering="student__user__name")
    def student_column(self, obj: ContactLog) -> SafeString:
        url = reverse("admin:service_student", args=[obj.student_id])
        return format_html('<a href="{}">{}</a>', url, obj.student.name)

    @admin.display(description=_("summary"))
    def summary_column(self, obj: ContactLog) -> str:
        return Truncator(obj.summary.replace("\n", " ")).chars(60)

    # --- The student page

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        own = [
            path("student/<int:student_id>/", view(self.student_view), name="service_student"),
            path("student/<int:student_id>/contact/", view(self.contact_view), name="service_student_contact"),
        ]
        return own + super().get_urls()

    def student_view(self, request: HttpRequest, student_id: int) -> HttpResponseBase:
        if request.method not in ("GET", "HEAD"):
            return redirect("admin:service_student", student_id)
        acting_user_with(request, VIEW_PERMISSION)
        return self.student_page(request, student_id)

    def contact_view(self, request: HttpRequest, student_id: int) -> HttpResponseBase:
        """Record a call, chat or visit; the page again with the errors if refused."""
        if request.method != "POST":
            return redirect("admin:service_student", student_id)
        actor = acting_user_with(request, RECORD_PERMISSION)
        acting_user_with(request, VIEW_PERMISSION)
        page = student_page_for_staff(user=actor, student_id=student_id, now=timezone.now())
        if page is None:
            raise Http404
        form = ContactForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                contact_record(
                    student=page.student,
                    by=actor,
                    channel=data["channel"],
                    summary=data["summary"],
                    minutes=data["minutes"],
                )
            except ServiceError as exc:
                service_errors_to_form(form, exc)
            else:
                messages.success(request, gettext("The contact is in her log."))
                return redirect(reverse("admin:service_student", args=[student_id]) + "#contacts")
        return self.student_page(request, student_id, contact_form=form)

    def student_page(
        self, request: HttpRequest, student_id: int, *, contact_form: ContactForm | None = None
    ) -> TemplateResponse:
        user = request.user
        now = timezone.now()
        page = student_page_for_staff(user=user, student_id=student_id, now=now)  # type: ignore[arg-type]  # staff: a User
        if page is None:
            raise Http404
        can_record = user.has_perm(RECORD_PERMISSION)
        if can_record and contact_form is None:
            contact_form = ContactForm()
        student = page.student
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": student.name,
            "page": page,
            "student": student,
            "enrollments": [(e, figures_line(e.facts)) for e in page.enrollments],  # type: ignore[attr-defined]
            "can_record": can_record,
            "contact_form": contact_form if can_record else None,
            "error_summary": error_summary([contact_form])
            if contact_form is not None and contact_form.is_bound
            else [],
            "links": {
                "order": user.has_perm("orders.view_order"),
                "refund": user.has_perm("refunds.view_refundrequest"),
                "ticket": user.has_perm("servicedesk.view_ticket"),
                "student": user.has_perm("students.view_student"),
                "task": user.has_perm("service.view_servicetask"),
            },
            "media": self.media,
        }
        return TemplateResponse(request, "admin/service/student/page.html", context)
