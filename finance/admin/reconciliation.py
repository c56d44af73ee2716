"""Finance admin: reconciliation."""
