"""Finance in the admin: exports, reconciliation runs, e-receipts and paper copies, and finance's
pieces of the refund request's page (the dispute archive and the e-receipt link,
``refund_requests``), which refunds' admin offers a place for without importing finance.
"""

from . import exports, receipts, reconciliation, refund_requests  # noqa: F401  (each registers its pages)
