"""Finance in the admin: exports, reconciliation runs, e-receipts and paper copies, archives."""

from . import archive, exports, reconciliation, receipts  # noqa: F401  (each registers its pages)
