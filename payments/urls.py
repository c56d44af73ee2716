"""Gateway callbacks: one URL per gateway that sends them (its ``notify_path``), all served by the
one callback view, named ``payments:<channel>-notify``; and one per gateway that collects money
(its ``collection_notify_path``), served by the payment notification view, named
``payments:<channel>-pay-notify``."""

from django.urls import path

from . import views
from .gateways.registry import GATEWAYS

app_name = "payments"

urlpatterns = [
    path(gateway.notify_path, views.gateway_notify, {"channel": channel}, name=f"{channel}-notify")
    for channel, gateway in GATEWAYS.items()
    if gateway.notify_path
] + [
    path(
        gateway.collection_notify_path,
        views.collection_notify,
        {"channel": channel},
        name=f"{channel}-pay-notify",
    )
    for channel, gateway in GATEWAYS.items()
    if gateway.collection_notify_path
]
