"""Notification events, templates, deliveries and the in-app inbox."""
