"""Apply for a refund, follow it on a timeline, cancel, supply information, appeal."""

from __future__ import annotations

urlpatterns: list = []
