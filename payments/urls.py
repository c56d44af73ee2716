"""Gateway callbacks: one URL per gateway that sends them (its ``notify_path``), all served by the
one callback view, named ``payments:<channel>-notify``."""

from django.urls import path

from . import views
from .gateways.registry import GATEWAYS

app_name = "payments"

urlpatterns = [
    path(gateway.notify_path, views.gateway_notify, {"channel": channel}, name=f"{channel}-notify")
    for channel, gateway in GATEWAYS.items()
    if gateway.notify_path
]
