"""The analytics admin: the refund analytics dashboard (``dashboard``)."""

from . import dashboard  # noqa: F401 - registers the dashboard's admin
