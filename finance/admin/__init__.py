"""Finance in the admin: exports, reconciliation runs, e-receipts and paper copies, archives."""

from . import archive, exports, receipts, reconciliation  # noqa: F401  (each registers its pages)
