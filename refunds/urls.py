from django.urls import path

from . import views

app_name = "refunds"

urlpatterns = [
    path("evidence/<int:pk>/", views.evidence_file, name="evidence"),
]
