"""The e-mail channel against a real SMTP server on loopback."""

from __future__ import annotations

import dataclasses

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from notifications.channels.base import (
    Attachment,
    ChannelPermanentError,
    ChannelTemporaryError,
    Recipient,
    channel_for,
)
from notifications.channels.email import EmailChannel, message_id

from .smtp import free_port


@pytest.fixture
def channel() -> EmailChannel:
    return EmailChannel()


def test_email_reaches_the_smtp_server_with_chinese_subject_and_body_intact(channel, smtp_server, make_message):
    channel.send(make_message())

    [mail] = smtp_server.messages
    assert mail["Subject"] == "退款申请已批准：《高中数学》"
    assert mail["To"].addresses[0].display_name == "李小明"
    assert mail["To"].addresses[0].addr_spec == "xiaoming@example.com"
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert "您的退款申请（¥1,280.00）已批准，款项将原路退回。" in text
    assert "https://schoolops.example.com/refunds/42/" in text


def test_email_has_an_html_alternative_with_the_text_escaped_and_the_link(channel, smtp_server, make_message):
    channel.send(make_message(body="<b>不是标签</b>"))

    html = smtp_server.messages[0].get_body(preferencelist=("html",)).get_content()
    assert "&lt;b&gt;不是标签&lt;/b&gt;" in html
    assert 'href="https://schoolops.example.com/refunds/42/"' in html


def test_email_message_id_carries_the_delivery_id(channel, smtp_server, make_message, settings):
    settings.DEFAULT_FROM_EMAIL = "明德网校 <noreply@school.example.com>"
    message = make_message(delivery_id=31337)

    returned = channel.send(message)

    mail = smtp_server.messages[0]
    assert returned == mail["Message-ID"] == "<notification-31337@school.example.com>"
    assert mail["X-Schoolops-Delivery"] == "31337"


def test_email_sent_again_keeps_the_same_message_id(channel, smtp_server, make_message):
    message = make_message()

    channel.send(message)
    channel.send(message)

    assert len({mail["Message-ID"] for mail in smtp_server.messages}) == 1


def test_refused_recipient_is_a_permanent_error(channel, smtp_server, make_message):
    smtp_server.refuse["xiaoming@example.com"] = "550 5.1.1 <xiaoming@example.com>: user unknown"

    with pytest.raises(ChannelPermanentError) as error:
        channel.send(make_message())

    assert error.value.code == "550"
    assert smtp_server.messages == []


def test_recipient_deferred_with_a_4xx_answer_is_a_temporary_error(channel, smtp_server, make_message):
    smtp_server.refuse["xiaoming@example.com"] = "450 4.2.1 mailbox busy, try later"

    with pytest.raises(ChannelTemporaryError):
        channel.send(make_message())


def test_smtp_server_down_is_a_temporary_error(channel, smtp_server, make_message, settings):
    settings.EMAIL_PORT = free_port()  # nobody listens there

    with pytest.raises(ChannelTemporaryError) as error:
        channel.send(make_message())

    assert error.value.code == "network"


def test_a_newline_in_the_subject_is_a_permanent_error_before_connecting(channel, make_message, settings):
    settings.EMAIL_PORT = free_port()

    with pytest.raises(ChannelPermanentError):
        channel.send(make_message(subject="第一行\n第二行"))


def test_recipient_without_an_email_address_cannot_be_reached(channel):
    assert channel.can_reach(Recipient(None, "无邮箱")) is False


def test_recipient_with_an_email_address_can_be_reached(channel, recipient):
    assert channel.can_reach(recipient) is True


def test_subject_over_200_characters_is_a_template_problem(channel):
    assert channel.check_template(subject="退" * 201, body="正文", fields={}) == ["subject longer than 200 characters"]


def test_email_channel_is_registered_by_name():
    assert isinstance(channel_for("email"), EmailChannel)


@pytest.fixture
def stored_pdf(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    name = default_storage.save("weekly-reviews/test.pdf", ContentFile(b"%PDF-1.7 \x00\xff binary"))
    return Attachment(storage_name=name, file_name="退费周报_2026-03-02.pdf", content_type="application/pdf")


def test_an_attachment_is_read_from_storage_and_arrives_byte_for_byte(channel, smtp_server, make_message, stored_pdf):
    channel.send(make_message(attachments=(stored_pdf,)))

    [mail] = smtp_server.messages
    [part] = list(mail.iter_attachments())
    assert part.get_filename() == "退费周报_2026-03-02.pdf"
    assert part.get_content_type() == "application/pdf"
    assert part.get_content() == b"%PDF-1.7 \x00\xff binary"
    assert "您的退款申请（¥1,280.00）已批准" in mail.get_body(preferencelist=("plain",)).get_content()


def test_a_missing_attachment_is_a_permanent_error_naming_it_before_connecting(
    channel, make_message, stored_pdf, settings
):
    default_storage.delete(stored_pdf.storage_name)
    settings.EMAIL_PORT = free_port()  # nobody listens: the error comes before any connection

    with pytest.raises(ChannelPermanentError) as error:
        channel.send(make_message(attachments=(stored_pdf,)))

    assert error.value.code == "attachment-missing"
    assert "退费周报_2026-03-02.pdf" in error.value.message


def test_email_is_the_channel_that_carries_attachments():
    assert channel_for("email").carries_attachments is True
    assert {name for name in ("inbox", "sms", "wechat", "webhook") if channel_for(name).carries_attachments} == set()


def test_a_text_that_gives_the_link_is_not_followed_by_it_again(channel, smtp_server, make_message):
    link = "https://schoolops.example.com/refunds/42/"
    channel.send(make_message(body=f"请在截止时间前完成审核。\n审核入口：{link}"))

    mail = smtp_server.messages[0]
    assert mail.get_body(preferencelist=("plain",)).get_content().count(link) == 1
    html = mail.get_body(preferencelist=("html",)).get_content()
    assert html.count(link) == 2  # once as the address, once as the text of its own <a>
    assert f'审核入口：<a href="{link}"' in html


def test_a_batch_goes_over_one_connection_and_a_refused_recipient_spoils_only_its_own(
    channel, smtp_server, make_message, recipient
):
    refused = dataclasses.replace(recipient, email="nobody@example.com")
    smtp_server.refuse["nobody@example.com"] = "550 5.1.1 <nobody@example.com>: user unknown"
    messages = [make_message(), make_message(recipient=refused), make_message(), make_message(), make_message()]

    answers = channel.send_many(messages)

    assert isinstance(answers[1], ChannelPermanentError) and answers[1].code == "550"
    sent = [answer for index, answer in enumerate(answers) if index != 1]
    assert sent == [message_id(m.delivery_id) for i, m in enumerate(messages) if i != 1]
    assert len(smtp_server.messages) == 4
    # One connection for the first message and the refused one, a new one after the refusal.
    assert smtp_server.greetings == 2


def test_a_batch_with_the_server_down_is_a_temporary_error_for_each(channel, smtp_server, make_message, settings):
    settings.EMAIL_PORT = free_port()  # nobody listens there

    answers = channel.send_many([make_message(), make_message()])

    assert [type(answer) for answer in answers] == [ChannelTemporaryError, ChannelTemporaryError]
    assert {answer.code for answer in answers} == {"network"}
