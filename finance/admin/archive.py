"""Finance admin: archive."""
