"""The contract every notification channel keeps, and the registry that finds one by name.

A channel takes one rendered ``OutgoingMessage`` and hands it to its medium (the inbox table, an
SMTP server, an SMS provider, WeChat, a staff group's robot). It never sees Django's request and
never decides who is told: the outbox (``notifications.services``) does that and renders the text,
delivery records the outcome. ``send`` is called outside any database transaction, may be called more
than once for the same ``delivery_id`` (a retry after a crash), and should pass that id on as an
idempotency key wherever the medium accepts one.

A channel also says how its failures are retried, since only it knows its medium: ``retry`` (how
many attempts, how long to wait between them) and ``is_transient`` (which errors another attempt
may cure). ``send`` sorts the medium's answers into ``ChannelTemporaryError`` and
``ChannelPermanentError``; the delivery service (``notifications.services.delivery``) only asks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from schoolops.http import backoff_with_jitter

from . import load_all


@dataclass(frozen=True)
class WebhookTarget:
    """A staff group's robot: DingTalk, WeCom (企业微信) or a Slack-style incoming webhook."""

    kind: str  # "dingtalk" | "wecom" | "slack"
    url: str
    secret: str = ""  # DingTalk's signing secret (加签); unused by the others


@dataclass(frozen=True)
class Recipient:
    """Who a message is for, with every address the outbox knows for them."""

    user_id: int | None
    name: str
    email: str = ""
    phone: str = ""
    wechat_openid: str = ""
    webhook: WebhookTarget | None = None
    language: str = "zh-hans"


@dataclass(frozen=True)
class Attachment:
    """A file sent with a message, read from the default storage when the message goes out.

    Only channels that carry files (``Channel.carries_attachments``: e-mail) get it; the others
    send their text, whose link leads to the same document behind a login.
    """

    storage_name: str  # the name in ``default_storage`` (a private path, never a public URL)
    file_name: str  # what the reader sees, e.g. 退费周报_2026-03-02.pdf
    content_type: str = "application/octet-stream"


@dataclass(frozen=True)
class OutgoingMessage:
    """One rendered message for one recipient on one channel."""

    delivery_id: int  # the outbox row: the idempotency key
    channel: str
    event: str  # e.g. "refund.submitted"
    recipient: Recipient
    subject: str
    body: str
    # The template's placeholder values, already formatted as text (SMS template parameters,
    # WeChat template / subscribe message fields).
    fields: dict[str, str] = field(default_factory=dict)
    # The provider's own template id where one is needed (SMS template code, WeChat template id).
    provider_template_id: str = ""
    link: str = ""  # an absolute URL to the page about it
    refund_request_id: int | None = None
    attachments: tuple[Attachment, ...] = ()  # only on channels that carry files


class ChannelError(Exception):
    """Base of the channel errors; ``message`` is kept on the delivery row."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class ChannelTemporaryError(ChannelError):
    """Try again later (network, 5xx, rate limit, provider busy)."""


class ChannelPermanentError(ChannelError):
    """Trying again cannot help (bad address, rejected content, unknown template): recorded."""


@dataclass(frozen=True)
class RetryPolicy:
    """How a channel's failed sends are tried again: ``attempts`` in all (the first one counted),
    waits from ``first_wait`` seconds doubling up to ``max_wait``, with jitter."""

    attempts: int
    first_wait: float
    max_wait: float

    def wait(self, attempts: int) -> float:
        """Seconds before the next attempt, ``attempts`` having been made so far."""
        return backoff_with_jitter(attempt=max(attempts - 1, 0), base=self.first_wait, cap=self.max_wait)


class Channel:
    """Base class: one subclass per medium, registered by ``name``."""

    name: ClassVar[str]
    # Length limits checked when a template is saved (None: no limit).
    max_subject_length: ClassVar[int | None] = None
    max_body_length: ClassVar[int | None] = None
    # An outside service over the network: five attempts, waits of 30 s doubling (at most 7.5 min in all).
    retry: ClassVar[RetryPolicy] = RetryPolicy(attempts=5, first_wait=30, max_wait=1800)
    # Whether the medium takes files: the outbox keeps a message's attachments only on such rows.
    carries_attachments: ClassVar[bool] = False
    # Whether the medium is a table of our own (the inbox): its messages are written in the
    # transaction that records them as sent.
    sends_in_database: ClassVar[bool] = False

    def is_transient(self, error: Exception) -> bool:
        """Whether another attempt may succeed after ``send`` raised ``error``.

        A ``ChannelPermanentError`` is final; a ``ChannelTemporaryError`` is not, nor is anything
        unexpected (a bug, a library's own exception): whether the message went out is unknown, so
        it is tried again within ``retry``'s limits.
        """
        return not isinstance(error, ChannelPermanentError)

    def can_reach(self, recipient: Recipient) -> bool:
        """Whether this channel has an address for ``recipient`` (an e-mail, a phone, an openid...)."""
        raise NotImplementedError

    def send(self, message: OutgoingMessage) -> str:
        """Hand the message over; return the medium's id for it ("" when it has none).

        Raises ``ChannelTemporaryError`` or ``ChannelPermanentError``.
        """
        raise NotImplementedError

    def send_many(self, messages: Sequence[OutgoingMessage]) -> list[str | Exception]:
        """Hand a batch over: per message, in order, the medium's id or the exception ``send``
        raised. Channels that can share one connection for a batch (e-mail) or write all rows at
        once (the inbox) do so; the others send one by one."""
        answers: list[str | Exception] = []
        for message in messages:
            try:
                answers.append(self.send(message))
            except Exception as exc:  # the caller asks ``is_transient`` what it means
                answers.append(exc)
        return answers

    def check_template(self, *, subject: str, body: str, fields: dict[str, str]) -> list[str]:
        """Problems with a rendered sample of a template on this channel (lengths, required fields)."""
        problems = []
        if self.max_subject_length is not None and len(subject) > self.max_subject_length:
            problems.append(f"subject longer than {self.max_subject_length} characters")
        if self.max_body_length is not None and len(body) > self.max_body_length:
            problems.append(f"text longer than {self.max_body_length} characters")
        return problems


_CHANNELS: dict[str, type[Channel]] = {}


def register_channel(channel_class: type[Channel]) -> type[Channel]:
    """Class decorator: make ``channel_class`` findable by its ``name``."""
    _CHANNELS[channel_class.name] = channel_class
    return channel_class


def channel_for(name: str) -> Channel:
    """A channel instance by name; ``KeyError`` naming the known ones otherwise."""
    load_all()
    try:
        return _CHANNELS[name]()
    except KeyError:
        raise KeyError(f"No notification channel {name!r} (known: {', '.join(sorted(_CHANNELS))}).") from None


def channel_names() -> list[str]:
    load_all()
    return sorted(_CHANNELS)
