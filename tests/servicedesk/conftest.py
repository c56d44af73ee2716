from __future__ import annotations

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from schoolops.models import StaffRole
from tests import factories

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def at(text: str) -> datetime.datetime:
    """A moment on the school's clock (Asia/Shanghai)."""
    return datetime.datetime.fromisoformat(text).replace(tzinfo=timezone.get_default_timezone())


def png(name: str = "screen.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PNG, content_type="image/png")


@pytest.fixture
def agent(campus, supervisor):
    """Customer service at the campus: owns new tickets."""
    return factories.make_staff(role=StaffRole.SERVICE, campus=campus, manager=supervisor, name="客服小林")


@pytest.fixture
def other_agent(other_campus):
    return factories.make_staff(role=StaffRole.SERVICE, campus=other_campus, name="客服小吴")
