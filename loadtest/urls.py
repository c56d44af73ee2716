"""The product's URLs plus ``/_bare/``: the load test's baseline, never in the production URLconf."""

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import path
from django.views.decorators.http import require_GET

from schoolops.urls import handler500
from schoolops.urls import urlpatterns as product_urlpatterns

__all__ = ["handler500", "urlpatterns"]


@require_GET
def bare(request: HttpRequest) -> HttpResponse:
    """A static template rendered through Django (the middleware included, no context processors,
    no query): what a request costs before any page's own work."""
    return HttpResponse(render_to_string("loadtest/bare.html"))


urlpatterns = [path("_bare/", bare, name="loadtest_bare"), *product_urlpatterns]
