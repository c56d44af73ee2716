"""Gateway statements read from the files finance downloads: refunds only, checked to the cell.

Reading a statement is the gateway's knowledge: each gateway class that has one names it
(``RefundGateway.statement`` in ``payments.gateways``: its kind, label and parser, next to the
rest of the channel), and ``parse_statement`` asks the registry for the parser of the kind
finance chose. What a read statement is (``Statement``, ``StatementRow``) and the error of a
file that cannot be read (``StatementError``, with its line and column) are
``payments.gateways.statements``'.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from payments.gateways.registry import statement_formats
from payments.gateways.statements import Statement, StatementError, decode

__all__ = ["Statement", "StatementError", "parse_statement", "statement_channel"]


def parse_statement(kind: str, data: bytes) -> Statement:
    """Read ``data`` as a statement of ``kind``; raises ``StatementError`` on the first fault."""
    formats = statement_formats()
    if kind not in formats:
        raise StatementError(None, "", _("Unknown statement kind %(kind)r.") % {"kind": kind})
    _channel, statement = formats[kind]
    return statement.parse(decode(data))


def statement_channel(kind: str) -> str:
    """The payment channel whose payouts a statement of ``kind`` reports on."""
    return statement_formats()[kind][0]
