"""What every intake from another system shares: errors that name the offending field, a reader
that turns raw JSON values or CSV cells into typed values while collecting those errors, and the
replay nonces of the signed endpoints.

An intake parses a batch in two steps, each collecting every problem before it raises
``IngestionDataError``: the shape of each item (``RawReader``, no database), then the facts
against the database. The whole batch is stored or nothing is.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from ..models import IngestionNonce
from ..signing import SENDERS, Sender

FUTURE_TOLERANCE = datetime.timedelta(minutes=5)
# Bound on the values of one ``IN (...)`` lookup; SQLite builds may allow no more than 999.
LOOKUP_CHUNK = 900
_TRUE_WORDS = {"true", "1", "yes"}
_FALSE_WORDS = {"false", "0", "no"}
_INTEGER_RE = re.compile(r"[+-]?[0-9]+")
# Money as the order system writes it: yuan with exactly two decimals, never a float.
_DECIMAL_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
MAX_SCORE = Decimal(100)
_MONEY_RE = re.compile(r"(0|[1-9][0-9]{0,9})\.[0-9]{2}")


@dataclass(frozen=True)
class FieldError:
    """One problem with the input.

    ``collection`` is the list the item came in (``events``, ``orders``), ``index`` the item's
    position in it (None for the whole body), ``field`` the path inside the item
    (``student.phone``; "" for the item itself).
    """

    index: int | None
    field: str
    message: str | Promise
    collection: str

    @property
    def path(self) -> str:
        """The JSON path of the offending value, e.g. ``orders[3].student.phone``."""
        if self.index is None:
            return self.field
        if not self.field:
            return f"{self.collection}[{self.index}]"
        return f"{self.collection}[{self.index}].{self.field}"

    def as_dict(self) -> dict[str, str]:
        return {"field": self.path, "message": str(self.message)}


class IngestionDataError(Exception):
    """The batch cannot be stored; ``errors`` names every offending field."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        super().__init__(f"{len(errors)} invalid field(s)")
        self.errors = list(errors)


class IngestionReplayError(Exception):
    """The request's signature was accepted before: it is a replay."""


@dataclass
class RawReader:
    """Reads the fields of one raw item, collecting errors; ``textual`` for CSV cells (all strings).

    ``nested`` reads a sub-object (``student``) into the same error list, its fields prefixed.
    """

    raw: Mapping[str, Any]
    index: int
    textual: bool
    collection: str
    prefix: str = ""
    errors: list[FieldError] = field(default_factory=list)

    def error(self, name: str, message: str | Promise) -> None:
        self.errors.append(FieldError(self.index, f"{self.prefix}{name}", message, self.collection))

    def nested(self, name: str) -> RawReader | None:
        """A reader of the object in ``name``, or None (with an error) when it is not an object."""
        value = self.raw.get(name)
        if not isinstance(value, Mapping):
            self.error(name, _("This field is required.") if value is None else _("Must be an object."))
            return None
        return RawReader(
            value,
            index=self.index,
            textual=self.textual,
            collection=self.collection,
            prefix=f"{self.prefix}{name}.",
            errors=self.errors,
        )

    def value(self, name: str) -> Any:
        """The raw value, or None when absent (a null in JSON, an empty cell in CSV)."""
        value = self.raw.get(name)
        if self.textual and isinstance(value, str):
            value = value.strip()
            return value or None
        return value

    def string(self, name: str, *, max_length: int | None = None, pattern: re.Pattern[str] | None = None) -> str | None:
        """A required string, or None with an error."""
        value = self.value(name)
        if value is None or value == "":
            self.error(name, _("This field is required."))
            return None
        return self._checked_string(name, value, max_length=max_length, pattern=pattern)

    def optional_string(
        self, name: str, *, max_length: int | None = None, pattern: re.Pattern[str] | None = None
    ) -> str | None:
        """A string, or None when absent or empty (an error is recorded for an invalid one)."""
        value = self.value(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return self._checked_string(name, value, max_length=max_length, pattern=pattern)

    def _checked_string(
        self, name: str, value: Any, *, max_length: int | None, pattern: re.Pattern[str] | None
    ) -> str | None:
        if not isinstance(value, str):
            self.error(name, _("Must be a string."))
            return None
        if max_length is not None and len(value) > max_length:
            self.error(name, format_lazy(_("At most {max_length} characters."), max_length=max_length))
            return None
        if pattern is not None and not pattern.fullmatch(value):
            self.error(name, _("Contains characters that are not allowed."))
            return None
        return value

    def choice(self, name: str, choices: Sequence[str]) -> str | None:
        """One of ``choices``, or None with an error."""
        value = self.value(name)
        if value is None:
            self.error(name, _("This field is required."))
            return None
        if value not in choices:
            self.error(name, format_lazy(_("Must be one of {choices}."), choices=", ".join(choices)))
            return None
        return str(value)

    def integer(self, name: str, *, minimum: int, maximum: int | None = None) -> int | None:
        """The integer value, or None when absent or invalid (an error is recorded for invalid)."""
        value = self.value(name)
        if value is None:
            return None
        if self.textual and isinstance(value, str) and _INTEGER_RE.fullmatch(value):
            value = int(value)
        # bool is an int in Python, but ``true`` is no lesson number.
        if not isinstance(value, int) or isinstance(value, bool):
            self.error(name, _("Must be an integer."))
            return None
        if value < minimum or (maximum is not None and value > maximum):
            if maximum is None:
                message = format_lazy(_("Must be at least {minimum}."), minimum=minimum)
            else:
                message = format_lazy(_("Must be between {minimum} and {maximum}."), minimum=minimum, maximum=maximum)
            self.error(name, message)
            return None
        return value

    def score(self, name: str) -> Decimal | None:
        """A score from 0 to 100 with at most two decimals (a JSON number, or CSV text), or None
        when absent or invalid (an error is recorded for invalid)."""
        value = self.value(name)
        if value is None:
            return None
        number: Decimal | None = None
        if self.textual and isinstance(value, str) and _DECIMAL_RE.fullmatch(value):
            number = Decimal(value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            # str() first: Decimal(87.55) would carry the float's binary error into the score.
            number = Decimal(str(value))
        if number is None or not number.is_finite():
            self.error(name, _("Must be a number."))
            return None
        if not 0 <= number <= MAX_SCORE:
            self.error(name, format_lazy(_("Must be between {minimum} and {maximum}."), minimum=0, maximum=100))
            return None
        if number != number.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP):
            self.error(name, _("At most two decimal places."))
            return None
        return number.quantize(Decimal("0.01"))

    def boolean(self, name: str, *, default: bool) -> bool:
        value = self.value(name)
        if value is None:
            return default
        if self.textual and isinstance(value, str):
            word = value.lower()
            if word in _TRUE_WORDS:
                return True
            if word in _FALSE_WORDS:
                return False
        if not isinstance(value, bool):
            self.error(name, _("Must be true or false."))
            return default
        return value

    def money(self, name: str) -> Decimal | None:
        """A required amount in yuan written as a string with two decimals ("1999.00")."""
        value = self.value(name)
        if value is None:
            self.error(name, _("This field is required."))
            return None
        if not isinstance(value, str) or not _MONEY_RE.fullmatch(value):
            self.error(name, _('Must be an amount in yuan as a string with two decimals, e.g. "1999.00".'))
            return None
        try:
            return Decimal(value)
        except InvalidOperation:  # cannot happen after the pattern; kept for the type checker's sake
            self.error(name, _("Must be a decimal number."))
            return None

    def moment(self, name: str, *, now: datetime.datetime) -> datetime.datetime | None:
        value = self.value(name)
        if value is None:
            self.error(name, _("This field is required."))
            return None
        if not isinstance(value, str):
            self.error(name, _("Must be an ISO-8601 date-time string."))
            return None
        try:
            moment = datetime.datetime.fromisoformat(value)
        except ValueError:
            self.error(name, _("Must be an ISO-8601 date-time."))
            return None
        if moment.tzinfo is None or moment.utcoffset() is None:
            self.error(name, _("Needs a timezone offset, e.g. +08:00."))
            return None
        try:
            moment = moment.astimezone(datetime.UTC)
        except OverflowError:
            self.error(name, _("Out of range."))
            return None
        if moment > now + FUTURE_TOLERANCE:
            self.error(name, _("Lies in the future."))
            return None
        return moment


def chunked(values: Iterable[str]) -> Iterator[list[str]]:
    """``values`` in lists of at most ``LOOKUP_CHUNK``, for ``IN (...)`` lookups."""
    chunk: list[str] = []
    for value in values:
        chunk.append(value)
        if len(chunk) == LOOKUP_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- Replay nonces of the signed endpoints


def ingestion_nonce_store(*, signature: str, sender: Sender) -> None:
    """Remember an accepted signature in the caller's transaction; raises ``IngestionReplayError``
    when it was accepted before (from any sender)."""
    try:
        with transaction.atomic():
            IngestionNonce.objects.create(signature=signature, sender=sender.code)
    except IntegrityError as exc:
        raise IngestionReplayError from exc


def ingestion_nonce_purge(*, older_than: datetime.datetime | None = None) -> int:
    """Delete replay nonces received before ``older_than``; returns how many.

    By default that is twice the widest skew window ago: a signature whose timestamp was accepted
    at most one window away from its arrival is outside the window one more window later.
    """
    if older_than is None:
        widest = max(sender.max_skew_seconds for sender in SENDERS)
        older_than = timezone.now() - datetime.timedelta(seconds=2 * widest)
    deleted, _per_model = IngestionNonce.objects.filter(received_at__lt=older_than).delete()
    return deleted
