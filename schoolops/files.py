"""Serving an uploaded file (evidence, a ticket's attachment) to someone already allowed to see it."""

from __future__ import annotations

from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404


def private_file_response(file: FieldFile, *, content_type: str, filename: str) -> FileResponse:
    """The file inline, never cached, never sniffed; 404 if storage lost it."""
    try:
        handle = file.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The file is missing from storage.") from exc
    response = FileResponse(handle, content_type=content_type, filename=filename)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
