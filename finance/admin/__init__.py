"""Finance in the admin: vouchers, exports (with the export actions on the payout list,
``export_actions``), reconciliation runs, e-receipts and paper copies, and finance's
pieces of the refund request's page (the dispute archive and the e-receipt link,
``refund_requests``), which refunds' admin offers a place for without importing finance.
"""

from . import export_actions, exports, receipts, reconciliation, refund_requests, vouchers  # noqa: F401  (each registers its pages)
