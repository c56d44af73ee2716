"""The help center (帮助中心): refund policies and common questions."""

from __future__ import annotations

urlpatterns: list = []
