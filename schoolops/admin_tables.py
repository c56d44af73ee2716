"""Every data table of the admin, one click from the home ("全部数据表").

The home shows what each person does (``templates/admin/index.html``); Django's list of every
model, internal tables included, is this page: the site's own app list, in the admin's frame.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _


def all_tables(request: HttpRequest) -> HttpResponse:
    """The app list as Django's admin index shows it, for the tables the user may see."""
    site = admin.site
    context = {
        **site.each_context(request),
        "title": _("All data tables"),
        "subtitle": None,
        "app_list": site.get_app_list(request),
    }
    request.current_app = site.name
    return TemplateResponse(request, "admin/all_tables.html", context)


all_tables_view = admin.site.admin_view(all_tables)
