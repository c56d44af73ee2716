"""Gateway callbacks: verified before they change anything."""

from django.urls import path

app_name = "payments"

urlpatterns: list = []
