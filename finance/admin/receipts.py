"""Finance admin: receipts."""
