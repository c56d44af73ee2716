"""Finance admin: exports."""
