"""The service desk in the admin: tickets (the list, each ticket's page, a contact registered for a
student) and each campus's desk settings."""

from . import desk_settings, tickets  # noqa: F401 - registers the model admins
