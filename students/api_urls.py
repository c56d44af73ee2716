"""Endpoints the learning platform calls (signed, no session, no CSRF)."""

app_name = "learning_api"

urlpatterns: list = []
