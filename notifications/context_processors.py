from django.utils.functional import SimpleLazyObject

from .models import InboxMessage


def inbox_unread(request):
    """``inbox_unread_count`` for the page header: one query, made only if a template reads it.

    Anonymous visitors get 0 without a query.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"inbox_unread_count": 0}
    return {
        "inbox_unread_count": SimpleLazyObject(
            lambda: InboxMessage.objects.filter(recipient=user, read_at__isnull=True).count()
        )
    }
