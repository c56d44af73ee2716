"""Bank-card payments: we have no card acquirer API, so the money goes back by a bank transfer
that finance makes and records, as for offline payments; only the student's wording differs."""

from __future__ import annotations

from django.utils.translation import gettext_lazy

from .offline import OfflineGateway


class CardGateway(OfflineGateway):
    channel = "card"
    arrival_note = gettext_lazy("Back to your bank card 3–7 business days after the refund is paid out.")
