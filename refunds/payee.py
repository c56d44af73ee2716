"""Where a refund paid by hand goes: the student's bank account.

An order paid by bank card or offline transfer has no gateway to send the money back through;
finance transfers it to the account the student names when she applies (``refund_submit``'s
``payee``), copied onto the payout, where finance may correct it before the transfer. One check
of what an account looks like serves the student's form, the service and finance's page.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from orders.models import Order, PaymentChannel

# The channels refunded by a person's bank transfer (payments' manual gateways say the same:
# tests/refunds/test_payee.py keeps the two in step; refunds does not import payments).
PAYEE_CHANNELS = (PaymentChannel.CARD, PaymentChannel.OFFLINE)

# A Chinese bank card has 16 to 19 digits; a company or passbook account up to 30 (the field
# keeps room for an IBAN-length 34).
ACCOUNT_DIGITS = (12, 30)


@dataclass(frozen=True)
class Payee:
    name: str
    bank: str
    branch: str
    account_no: str

    @property
    def account_masked(self) -> str:
        return mask_account_no(self.account_no)


def payee_needed(order: Order) -> bool:
    """Whether a refund of ``order`` is paid by a bank transfer to an account she names."""
    return order.channel in PAYEE_CHANNELS


def payee_clean(*, name: str, bank: str, branch: str, account_no: str) -> Payee:
    """The account as given, tidied (spaces out of the number), or ``ValidationError`` naming each
    field that is wrong: ``name``, ``bank``, ``branch``, ``account_no``."""
    name, bank, branch = name.strip(), bank.strip(), branch.strip()
    number = "".join(account_no.split()).replace("-", "")
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = _("Give the account holder's name.")
    elif len(name) > 60:
        errors["name"] = _("The account holder's name is at most 60 characters.")
    if not bank:
        errors["bank"] = _("Give the bank's name, e.g. 中国工商银行.")
    elif len(bank) > 60:
        errors["bank"] = _("The bank's name is at most 60 characters.")
    if len(branch) > 100:
        errors["branch"] = _("The branch is at most 100 characters.")
    low, high = ACCOUNT_DIGITS
    if not number:
        errors["account_no"] = _("Give the card or account number.")
    elif not number.isdigit():
        errors["account_no"] = _("A card or account number has digits only.")
    elif not low <= len(number) <= high:
        errors["account_no"] = _("A card or account number has %(low)d to %(high)d digits; this one has %(n)d.") % {
            "low": low,
            "high": high,
            "n": len(number),
        }
    if errors:
        raise ValidationError(errors)
    return Payee(name=name, bank=bank, branch=branch, account_no=number)


def mask_account_no(number: str) -> str:
    """A card or account number with all but its last four digits hidden: "**** 1234"."""
    digits = "".join(number.split())
    if not digits:
        return ""
    return f"**** {digits[-4:]}" if len(digits) > 4 else "****"
