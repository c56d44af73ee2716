"""Finance admin: the dispute archive.

The archive is downloaded from the refund request's own page: the view is
``RefundRequestAdmin.archive_view`` (``admin:refunds_refundrequest_archive``, in
``refunds/admin/requests.py``), so that it fetches the request through that admin's campus-scoped
queryset; the archive itself is built by ``finance.archive``.
"""
