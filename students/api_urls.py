"""Endpoints other systems call (signed, no session, no CSRF), included by ``schoolops.urls``:
the learning platform's under ``api/learning/``, the order system's under ``api/orders/``."""

from django.urls import path

from . import api

learning_urls = ([path("events/", api.learning_events_receive, name="events")], "learning_api")
order_urls = ([path("", api.orders_receive, name="orders")], "order_api")
