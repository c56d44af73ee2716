"""The analytics admin: the refund analytics dashboard (``dashboard``), the alert rules, the alerts
and the course quality reviews (``alerts``), and the weekly reviews (``weekly``)."""

from . import alerts, dashboard, weekly  # noqa: F401 - each registers its admin
