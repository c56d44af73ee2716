"""Finance in the admin: exports, reconciliation runs, e-receipts and paper copies.

The dispute archive is downloaded from the refund request's own admin page
(``RefundRequestAdmin.archive_view`` in ``refunds/admin/requests.py``), so it fetches the request
through that admin's campus-scoped queryset; ``finance.archive`` builds it.
"""

from . import exports, receipts, reconciliation  # noqa: F401  (each registers its pages)
