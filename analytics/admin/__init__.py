"""The analytics admin: the refund analytics dashboard (``dashboard``) and the weekly reviews
(``weekly``)."""

from . import dashboard, weekly  # noqa: F401 - each registers its admin
