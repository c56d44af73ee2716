"""The one shape of a refused action, which every app's own error extends."""

from __future__ import annotations


class ActionRefused(Exception):
    """A refused action: nothing was changed. ``message`` says why, for the person who tried;
    ``code`` names the reason for code and tests."""

    def __init__(self, message: str, *, code: str = "refused") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
