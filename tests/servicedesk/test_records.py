"""The ticket's record as a ZIP: the student's copy carries nothing internal, staff's carries it all."""

from __future__ import annotations

import io
import zipfile

import pytest

from servicedesk import services
from servicedesk.models import SolutionKind, TicketCategory
from servicedesk.records import ticket_record_response

from .conftest import at, png

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def unzip(response) -> dict[str, bytes]:
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    return {name: archive.read(name) for name in archive.namelist()}


@pytest.fixture
def ticket(student, agent):
    ticket = services.ticket_open(
        student=student,
        category=TicketCategory.COMPLAINT,
        subject="老师迟到",
        description="老师连续两次迟到。",
        attachments=[png("课表.png")],
        at=at("2026-12-03 10:00"),
    )
    services.ticket_reply(
        actor=agent.user,
        ticket_id=ticket.pk,
        body="内部：老师本周请过病假，排课未调整",
        internal=True,
        attachments=[png("排课表.png")],
        at=at("2026-12-03 10:20"),
    )
    services.ticket_assess(actor=agent.user, ticket_id=ticket.pk, finding="排课疏漏", at=at("2026-12-03 10:30"))
    services.ticket_resolve(
        actor=agent.user,
        ticket_id=ticket.pk,
        solution_kind=SolutionKind.ANSWER,
        solution="已调整排课并补课一次。",
        at=at("2026-12-03 11:00"),
    )
    return ticket


def test_the_students_copy_has_no_internal_note_finding_or_file(ticket):
    files = unzip(ticket_record_response(ticket, for_student=True))
    assert set(files) == {"ticket.txt", "conversation.txt", "attachments/01_课表.png"}
    everything = b"".join(files.values()).decode("utf-8", errors="ignore")
    assert "老师连续两次迟到" in everything and "已调整排课并补课一次" in everything
    assert "病假" not in everything and "排课疏漏" not in everything and "排课表" not in everything


def test_staffs_copy_has_it_all(ticket):
    files = unzip(ticket_record_response(ticket, for_student=False))
    assert set(files) == {"ticket.txt", "conversation.txt", "attachments/01_课表.png", "attachments/02_排课表.png"}
    text = (files["ticket.txt"] + files["conversation.txt"]).decode()
    assert "病假" in text and "排课疏漏" in text
    assert files["attachments/02_排课表.png"].startswith(b"\x89PNG")
