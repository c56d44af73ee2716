"""The refunds admin: policies (operations) and refund requests (approvers)."""

from . import policies, queue, requests, settings  # noqa: F401 - registers the model admins
