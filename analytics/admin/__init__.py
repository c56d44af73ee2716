"""The analytics admin: the refund analytics dashboard (``dashboard``), and the alert rules, the
alerts and the course quality reviews (``alerts``)."""

from . import alerts, dashboard  # noqa: F401 - registers the admins
