"""E-mail through Django's configured e-mail backend (SMTP in production, the console otherwise).

Plain text with an HTML alternative (the same text, escaped, its web addresses made links), and the
request's link after it unless the text already gives it. The ``Message-ID`` is
made from the delivery id, so a message sent again after a crash carries the same id and mail
systems (and people reading headers) can tell it is one message; ``X-Schoolops-Delivery`` names
the delivery row.

Attachments (``OutgoingMessage.attachments``) are read from the default storage when the message
is built, on every attempt; a file that is not there is a permanent error naming it (sending
again cannot bring it back), any other storage failure is tried again.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from email.utils import formataddr, parseaddr
from typing import ClassVar

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.mail import BadHeaderError, EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.utils.html import escape, linebreaks

from schoolops.templatetags.text import linkify

from .base import (
    Attachment,
    Channel,
    ChannelPermanentError,
    ChannelTemporaryError,
    OutgoingMessage,
    Recipient,
    RetryPolicy,
    register_channel,
)

logger = logging.getLogger(__name__)

DEFAULT_SMTP_TIMEOUT = 30.0  # seconds, when EMAIL_TIMEOUT is not set (Django's default is none)


def _domain() -> str:
    """The domain part of ``DEFAULT_FROM_EMAIL`` (for Message-IDs), "localhost" when it has none."""
    address = parseaddr(str(settings.DEFAULT_FROM_EMAIL))[1]
    return address.rpartition("@")[2] or "localhost"


def message_id(delivery_id: int) -> str:
    return f"<notification-{delivery_id}@{_domain()}>"


def _code_class(code: int | str) -> int:
    try:
        return int(code) // 100
    except (TypeError, ValueError):
        return 4


@register_channel
class EmailChannel(Channel):
    name = "email"
    # An SMTP server's deferral (4xx) or outage can last: six attempts, waits of 30 s doubling (at most 15 min).
    retry = RetryPolicy(attempts=6, first_wait=30, max_wait=1800)
    max_subject_length: ClassVar[int | None] = 200
    carries_attachments: ClassVar[bool] = True

    def can_reach(self, recipient: Recipient) -> bool:
        address = recipient.email.strip()
        return bool(address) and "@" in address

    def check_template(self, *, subject: str, body: str, fields: dict[str, str]) -> list[str]:
        problems = super().check_template(subject=subject, body=body, fields=fields)
        if "\n" in subject or "\r" in subject:
            problems.append("subject must be one line")
        return problems

    def build(self, message: OutgoingMessage) -> EmailMultiAlternatives:
        recipient = message.recipient
        to = formataddr((recipient.name, recipient.email.strip())) if recipient.name else recipient.email.strip()
        # The link is added once: a text that already gives it (审核入口：http://…) is not followed by
        # it again.
        extra_link = message.link if message.link and message.link not in message.body else ""
        email = EmailMultiAlternatives(
            subject=message.subject,
            body=message.body + (f"\n\n{extra_link}" if extra_link else ""),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[to],
            headers={
                "Message-ID": message_id(message.delivery_id),
                "X-Schoolops-Delivery": str(message.delivery_id),
                "X-Schoolops-Event": message.event,
                "Auto-Submitted": "auto-generated",  # RFC 3834: no vacation replies, please
            },
        )
        html = linebreaks(linkify(message.body))
        if extra_link:
            html += f'<p><a href="{escape(extra_link)}">{escape(extra_link)}</a></p>'
        email.attach_alternative(html, "text/html")
        for attachment in message.attachments:
            email.attach(attachment.file_name, _read(attachment), attachment.content_type)
        return email

    def send(self, message: OutgoingMessage) -> str:
        email = self._prepared(message)
        with _smtp_errors(), get_connection(fail_silently=False, timeout=_timeout()) as connection:
            connection.send_messages([email])
        return message_id(message.delivery_id)

    def send_many(self, messages: Sequence[OutgoingMessage]) -> list[str | Exception]:
        """The batch over one SMTP connection (opened once, opened again after a failure)."""
        answers: list[str | Exception] = []
        prepared: list[tuple[int, EmailMultiAlternatives]] = []
        for index, message in enumerate(messages):
            try:
                prepared.append((index, self._prepared(message)))
                answers.append(message_id(message.delivery_id))
            except Exception as exc:  # a permanent content error, or storage trouble: per message
                answers.append(exc)
        if not prepared:
            return answers
        connection = get_connection(fail_silently=False, timeout=_timeout())
        try:
            for index, email in prepared:
                try:
                    with _smtp_errors():
                        connection.open()
                        connection.send_messages([email])
                except Exception as exc:  # this message's answer; the batch goes on
                    answers[index] = exc
                    _close_quietly(connection)  # the next message starts on a new connection
        finally:
            _close_quietly(connection)
        return answers

    def _prepared(self, message: OutgoingMessage) -> EmailMultiAlternatives:
        """The e-mail of ``message``, checked before any connection."""
        if not self.can_reach(message.recipient):
            raise ChannelPermanentError("the recipient has no e-mail address", code="no-email")
        try:
            email = self.build(message)
            email.message()  # header and address problems show here, before any connection
        except (BadHeaderError, ValueError) as exc:
            raise ChannelPermanentError(f"cannot build the e-mail: {exc}", code="content") from exc
        return email


def _timeout() -> float:
    return getattr(settings, "EMAIL_TIMEOUT", None) or DEFAULT_SMTP_TIMEOUT


def _close_quietly(connection: BaseEmailBackend) -> None:
    try:
        connection.close()
    except Exception:  # closing a connection that broke: nothing to keep
        logger.debug("Closing the SMTP connection failed", exc_info=True)


@contextmanager
def _smtp_errors() -> Iterator[None]:
    """The SMTP server's answers as the channel's errors: permanent (5xx, content) or temporary."""
    try:
        yield
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        text = "; ".join(f"{addr}: {code} {_text(reply)}" for addr, (code, reply) in exc.recipients.items())
        if codes and all(_code_class(code) == 5 for code in codes):
            raise ChannelPermanentError(f"recipient refused: {text}", code=str(codes[0])) from exc
        raise ChannelTemporaryError(f"recipient deferred: {text}", code=str(codes[0] if codes else "")) from exc
    except smtplib.SMTPDataError as exc:
        # 5xx on the content (too big, rejected as spam): sending it again is refused again.
        error = ChannelPermanentError if _code_class(exc.smtp_code) == 5 else ChannelTemporaryError
        raise error(f"message refused: {exc.smtp_code} {_text(exc.smtp_error)}", code=str(exc.smtp_code)) from exc
    except smtplib.SMTPResponseException as exc:
        # Sender refused, authentication, HELO...: our server's configuration or its mood.
        raise ChannelTemporaryError(
            f"SMTP server said {exc.smtp_code} {_text(exc.smtp_error)}", code=str(exc.smtp_code)
        ) from exc
    except ValueError as exc:  # an address Django cannot encode
        raise ChannelPermanentError(f"cannot send the e-mail: {exc}", code="content") from exc
    except (smtplib.SMTPException, OSError) as exc:  # timeouts are OSErrors too
        # Connection refused / reset / timed out, server disconnected: try again later.
        raise ChannelTemporaryError(f"SMTP server unreachable: {exc}", code="network") from exc


def _read(attachment: Attachment) -> bytes:
    """The attachment's bytes from the default storage; ``ChannelPermanentError`` when it is gone."""
    try:
        with default_storage.open(attachment.storage_name, "rb") as handle:
            content: bytes = handle.read()
    except FileNotFoundError as exc:
        raise ChannelPermanentError(
            f"the attachment {attachment.file_name} ({attachment.storage_name}) is missing from storage",
            code="attachment-missing",
        ) from exc
    return content


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
