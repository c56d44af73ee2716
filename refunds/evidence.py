"""Evidence files: what a student may upload, recognised by content, never by name."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _

MAX_EVIDENCE_BYTES = 10 * 1024 * 1024
MAX_EVIDENCE_FILES = 5
# (leading bytes, content type, extension kept on disk)
_SIGNATURES = (
    (b"%PDF-", "application/pdf", ".pdf"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
)


@dataclass(frozen=True)
class CheckedFile:
    file: UploadedFile
    name: str
    content_type: str
    extension: str
    size: int
    sha256: str


def evidence_check(files: list[UploadedFile], *, already: int = 0) -> list[CheckedFile]:
    """Check every file (type by content, size, count); all problems in one ``ValidationError``."""
    errors: list[str] = []
    if already + len(files) > MAX_EVIDENCE_FILES:
        errors.append(_("At most %(max)d files per request.") % {"max": MAX_EVIDENCE_FILES})
    checked: list[CheckedFile] = []
    for upload in files:
        name = (upload.name or "").rsplit("/", 1)[-1][:200] or _("(no name)")
        if upload.size is not None and upload.size > MAX_EVIDENCE_BYTES:
            errors.append(
                _("%(name)s is larger than %(max)d MB.") % {"name": name, "max": MAX_EVIDENCE_BYTES // (1024 * 1024)}
            )
            continue
        upload.seek(0)
        head = upload.read(8)
        kind = next((k for k in _SIGNATURES if head.startswith(k[0])), None)
        if kind is None:
            errors.append(_("%(name)s is not a PDF, JPEG or PNG file.") % {"name": name})
            continue
        digest = hashlib.sha256()
        upload.seek(0)
        size = 0
        for chunk in upload.chunks():
            size += len(chunk)
            digest.update(chunk)
        if size == 0:
            errors.append(_("%(name)s is empty.") % {"name": name})
            continue
        upload.seek(0)
        checked.append(CheckedFile(upload, name, kind[1], kind[2], size, digest.hexdigest()))
    if errors:
        raise ValidationError(errors)
    return checked


def checked_files_store(checked: Iterable[CheckedFile], *, row: Callable[..., Any], saved: list[str]) -> None:
    """Keep each checked file under a random name on a new row made by ``row(original_name=…,
    content_type=…, size=…, sha256=…)`` (a model with a ``file`` field: evidence, a ticket's
    attachment); ``saved`` collects the stored names, for ``stored_files_delete`` on a rollback."""
    for item in checked:
        made = row(original_name=item.name, content_type=item.content_type, size=item.size, sha256=item.sha256)
        made.file.save(f"upload{item.extension}", item.file, save=False)
        saved.append(made.file.name)
        made.save()


def stored_files_delete(names: list[str]) -> None:
    """Remove the files a rolled-back change stored."""
    for name in names:
        default_storage.delete(name)
