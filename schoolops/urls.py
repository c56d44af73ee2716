from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpResponse
from django.urls import include, path
from django.views.decorators.http import require_GET

from portal.forms import LoginForm
from schoolops.admin_tables import all_tables_view
from students.api_urls import learning_urls, order_urls


@require_GET
def healthz(request):
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("", include("portal.urls")),
    path("refunds/", include("refunds.urls")),
    path("desk/", include("servicedesk.urls")),
    path("payments/", include("payments.urls")),
    path(
        "login/",
        auth_views.LoginView.as_view(authentication_form=LoginForm, redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/learning/", include(learning_urls)),
    path("api/orders/", include(order_urls)),
    path("admin/tables/", all_tables_view, name="admin_all_tables"),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
]

# The school's own 500 page (404.html and 403.html are found by Django's handlers).
handler500 = "schoolops.error_pages.server_error"
