"""The service desk in the admin: tickets (the list, each ticket's page, a contact registered for a
student), each campus's desk settings, the help center's answers and the satisfaction ratings."""

from . import desk_settings, help, tickets  # noqa: F401 - registers the model admins
