"""Endpoints the learning platform calls (signed, no session, no CSRF)."""

from django.urls import path

from . import api

app_name = "learning_api"

urlpatterns = [
    path("events/", api.learning_events_receive, name="events"),
]
