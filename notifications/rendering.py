"""Notification templates: the placeholders each event offers, the sandbox that renders them, the checks.

Templates use Django's syntax, limited to plain text: ``{{ placeholder|filter }}`` with the
event's placeholders only, and the tags ``if``/``elif``/``else``/``endif``, ``firstof`` and
``comment``. Everything else (``load``, ``include``, ``extends``, ``url``, ``for``...) is
refused on save, as is any variable the event does not offer.

Placeholders per event (all values are text, already formatted):

======================  ==========================================================================
event                   placeholders (besides the common ones below)
======================  ==========================================================================
refund.submitted        amount, amount_words, by_contract
refund.assigned         amount, amount_words, deadline, reason, by_contract
refund.advanced         amount, amount_words, deadline (next decision by), passed_tier, next_tier, by_contract
refund.escalated        amount, amount_words, deadline, reason, by_contract
refund.returned         reason (what is missing), deadline (supply by)
refund.approved         amount, arrival
refund.rejected         reason, deadline (appeal until)
refund.cancelled        reason
refund.appealed         reason
refund.payout_succeeded amount, channel, arrival (link: the request page / receipt)
refund.payout_failed    amount, channel, reason
refund.payout_needs_check  amount, channel, reason (what the gateway last said)
refund.closed           amount, reason (why it closed with nothing to pay)
======================  ==========================================================================

``amount`` is the amount to refund ("1,599.20"); for a contract course whose amount the reviewer has
not set yet it is that sentence instead ("金额由审核人按合同确定"), never "0.00", and ``by_contract``
is "1" (else empty) so a text can say it in its own words: ``{% if by_contract %}…{% else %}…{% endif %}``.
``amount_words`` is the amount with its unit or that sentence ("金额 1,599.20 元" / "金额由审核人按合同确定"),
never empty: short texts whose fields must all be filled (WeChat) use it instead of the flag.

Common to every refund event: ``student_name, recipient_name, order_no, request_no, course,
status, date, next_steps, contact, link``. Later features add their events with
``event_register``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.template import Context, Engine, Library, TemplateSyntaxError, defaultfilters, defaulttags
from django.template.base import FilterExpression, Lexer, Parser, TokenType, Variable
from django.utils.translation import gettext_lazy as _

from .channels.base import channel_for

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

COMMON = (
    "student_name",
    "recipient_name",
    "order_no",
    "request_no",
    "course",
    "status",
    "date",
    "next_steps",
    "contact",
    "link",
)


@dataclass(frozen=True)
class EventSpec:
    """An event that can be told: its placeholders and sample values for previews and checks."""

    key: str
    label: StrOrPromise  # a lazy translation
    placeholders: tuple[str, ...]
    sample: dict[str, str] = field(default_factory=dict)


_SAMPLE = {
    "student_name": "王小明",
    "recipient_name": "王小明",
    "order_no": "OD20260301001",
    "request_no": "RF20260301001",
    "course": "Python 全栈开发（直播班）",
    "status": "待班主任审核",
    "date": "2026-03-01 10:30",
    "deadline": "2026-03-08",
    "amount": "1,599.20",
    "reason": "上班时间调整，无法继续上课。",
    "next_steps": "我们会在 24 小时内完成审核，请留意消息。",
    "contact": "客服热线 400-800-1234（工作日 9:00-18:00）",
    "link": "https://school.example.com/me/refunds/RF20260301001/",
    "arrival": "2026-03-02 至 2026-03-09",
    "channel": "微信支付",
    "by_contract": "",
    "amount_words": "金额 1,599.20 元",
    "passed_tier": "班主任初审",
    "next_tier": "教学主管复核",
}

EVENTS: dict[str, EventSpec] = {}


# The staff-facing events a campus's staff group robots (``StaffWebhook``) may subscribe to.
ROBOT_EVENTS: list[str] = []


def event_register(
    key: str,
    *,
    label: StrOrPromise,
    placeholders: tuple[str, ...],
    sample: dict[str, str] | None = None,
    robot: bool = False,
) -> EventSpec:
    """Make ``key`` an event templates can be written for (later features: service tasks, alerts);
    ``robot``: staff group robots may subscribe to it."""
    values = {name: (sample or {}).get(name, _SAMPLE.get(name, name)) for name in placeholders}
    EVENTS[key] = EventSpec(key=key, label=label, placeholders=tuple(placeholders), sample=values)
    if robot and key not in ROBOT_EVENTS:
        ROBOT_EVENTS.append(key)
    return EVENTS[key]


for _key, _label, _extra in (
    ("refund.submitted", _("Refund submitted"), ("amount", "amount_words", "by_contract")),
    (
        "refund.assigned",
        _("Refund waiting for an approver"),
        ("amount", "amount_words", "deadline", "reason", "by_contract"),
    ),
    (
        "refund.advanced",
        _("Refund passed a review step (to the student)"),
        ("amount", "amount_words", "deadline", "passed_tier", "next_tier", "by_contract"),
    ),
    ("refund.escalated", _("Approval escalated"), ("amount", "amount_words", "deadline", "reason", "by_contract")),
    ("refund.returned", _("Returned for information"), ("reason", "deadline")),
    ("refund.approved", _("Refund approved"), ("amount", "arrival")),
    ("refund.rejected", _("Refund rejected"), ("reason", "deadline")),
    ("refund.cancelled", _("Refund cancelled"), ("reason",)),
    ("refund.appealed", _("Appeal received"), ("reason",)),
    ("refund.payout_succeeded", _("Money returned"), ("amount", "channel", "arrival")),
    ("refund.payout_failed", _("Refund payment failed"), ("amount", "channel", "reason")),
    ("refund.payout_needs_check", _("Refund payment needs a check at the gateway"), ("amount", "channel", "reason")),
    ("refund.closed", _("Refund closed with nothing to pay"), ("amount", "reason")),
):
    event_register(
        _key,
        label=_label,
        placeholders=(*COMMON, *_extra),
        robot=_key in ("refund.assigned", "refund.escalated", "refund.payout_failed", "refund.payout_needs_check"),
    )


# The same events of a course exchange (an after-sale request of kind "exchange"), in their own
# words: which course she moves to and what happens to the difference.
EXCHANGE_PLACEHOLDERS = ("new_course", "difference")
for _key, _label, _exchange_extra in (
    ("exchange.submitted", _("Course exchange submitted"), ("amount",)),
    ("exchange.assigned", _("Course exchange waiting for an approver"), ("amount", "deadline", "reason")),
    (
        "exchange.advanced",
        _("Course exchange passed a review step (to the student)"),
        ("amount", "deadline", "passed_tier", "next_tier"),
    ),
    ("exchange.escalated", _("Course exchange approval escalated"), ("amount", "deadline", "reason")),
    ("exchange.returned", _("Course exchange returned for information"), ("reason", "deadline")),
    ("exchange.approved", _("Course exchange approved"), ("amount", "deadline")),
    ("exchange.rejected", _("Course exchange rejected"), ("reason", "deadline")),
    ("exchange.cancelled", _("Course exchange cancelled"), ("reason",)),
    ("exchange.appealed", _("Course exchange appeal received"), ("reason",)),
    ("exchange.payout_succeeded", _("Course exchange difference refunded"), ("amount", "channel", "arrival")),
    ("exchange.payout_failed", _("Course exchange refund payment failed"), ("amount", "channel", "reason")),
    (
        "exchange.payout_needs_check",
        _("Course exchange refund payment needs a check at the gateway"),
        ("amount", "channel", "reason"),
    ),
    ("exchange.closed", _("Course exchange closed"), ("amount", "reason")),
):
    event_register(
        _key,
        label=_label,
        placeholders=(*COMMON, *_exchange_extra, *EXCHANGE_PLACEHOLDERS),
        sample={"new_course": "高中数学强化班（秋季）", "difference": "退还差额 ¥600.00"},
        robot=_key
        in ("exchange.assigned", "exchange.escalated", "exchange.payout_failed", "exchange.payout_needs_check"),
    )


# --- The sandbox ---------------------------------------------------------------------------------

CHANNELS = ("inbox", "email", "sms", "wechat", "webhook", "call_task")

ALLOWED_TAGS = {"if", "elif", "else", "endif", "firstof", "comment", "endcomment"}
_IF_WORDS = {"and", "or", "not", "in", "is", "==", "!=", "<", ">", "<=", ">="}

_library = Library()
for _name in ("if", "firstof", "comment"):
    _library.tag(_name, defaulttags.register.tags[_name])
_library.filters.update(defaultfilters.register.filters)


def _engine() -> Engine:
    engine = Engine(autoescape=False, string_if_invalid="")
    engine.template_builtins = [_library]
    return engine


_ENGINE = _engine()


class TemplateProblem(Exception):
    pass


def _variables(source: str) -> set[str]:
    """The root names of every variable ``source`` reads; refuses tags outside ``ALLOWED_TAGS``."""
    parser = Parser([], builtins=[_library])
    names: set[str] = set()

    def expression(text: str) -> None:
        fe = FilterExpression(text, parser)
        for var in [fe.var, *(arg for _func, args in fe.filters for _lookup, arg in args)]:
            if isinstance(var, Variable) and var.lookups:
                names.add(var.lookups[0])

    for token in Lexer(source).tokenize():
        if token.token_type == TokenType.VAR:
            expression(token.contents)
        elif token.token_type == TokenType.BLOCK:
            bits = token.split_contents()
            if not bits:
                continue
            if bits[0] not in ALLOWED_TAGS:
                raise TemplateProblem(_("The tag {%% %(tag)s %%} is not allowed here.") % {"tag": bits[0]})
            if bits[0] in ("if", "elif", "firstof"):
                for bit in bits[1:]:
                    if bit not in _IF_WORDS:
                        expression(bit)
    return names


def template_check(*, event: str, source: str) -> list[str]:
    """Problems with one template text for ``event``: syntax, forbidden tags, unknown placeholders."""
    spec = EVENTS.get(event)
    if spec is None:
        return [str(_("Unknown event %(event)s.") % {"event": event})]
    return source_problems(source=source, placeholders=spec.placeholders)


def source_problems(*, source: str, placeholders: Sequence[str]) -> list[str]:
    """Problems with a text written in the sandbox's syntax that may read only ``placeholders``:
    syntax, forbidden tags, unknown placeholders (named, with the allowed ones). Other apps' texts
    with placeholders (the service script library) are checked by it too."""
    try:
        names = _variables(source)
        _ENGINE.from_string(source)
    except (TemplateProblem, TemplateSyntaxError) as exc:
        return [str(exc)]
    unknown = sorted(names - set(placeholders))
    if unknown:
        return [
            str(
                _("Unknown placeholders: %(names)s. Allowed: %(allowed)s.")
                % {"names": ", ".join(unknown), "allowed": ", ".join(placeholders)}
            )
        ]
    return []


def render(source: str, context: dict[str, str]) -> str:
    """Render a checked template as plain text (no escaping: channels escape for their medium),
    its punctuation tidied where a value's own met the template's."""
    return tidy_punctuation(_ENGINE.from_string(source).render(Context(context, autoescape=False)).strip())


# A value often ends with its own full stop (a reason typed by staff, a generated sentence) where
# the template goes on with punctuation of its own: "……上课。，请处理" / "……上课。。" / "……上课。. Please".
_STOP_THEN_MARK = re.compile(r"[。](?=[，、；。])")
_MARK_THEN_STOP = re.compile(r"(?<=[！？，、；：])。")
_CJK_STOP_THEN_DOT = re.compile(r"(?<=[。！？])\.(?!\.)")
_DOUBLE_DOT = re.compile(r"(?<![.])\.\.(?![.])")


def tidy_punctuation(text: str) -> str:
    """Drop the mark that doubles another: "。，" → "，", "。。" → "。", "？。" → "？", "。." → "。",
    ".." → "." (an ellipsis "..." is left alone)."""
    text = _STOP_THEN_MARK.sub("", text)
    text = _MARK_THEN_STOP.sub("", text)
    text = _CJK_STOP_THEN_DOT.sub("", text)
    return _DOUBLE_DOT.sub(".", text)


def used_placeholders(*sources: str) -> set[str]:
    """The placeholders checked templates read: their values go to the channel as ``fields``
    (SMS template parameters, WeChat message fields)."""
    names: set[str] = set()
    for source in sources:
        try:
            names |= _variables(source)
        except (TemplateProblem, TemplateSyntaxError):
            continue
    return names


def render_sample(*, event: str, subject: str, body: str) -> tuple[str, str, dict[str, str]]:
    """The template rendered with the event's sample values, and the fields it sends."""
    spec = EVENTS[event]
    used = used_placeholders(subject, body)
    fields = {name: value for name, value in spec.sample.items() if name in used}
    return render(subject, spec.sample), render(body, spec.sample), fields


def template_errors(*, event: str, channel: str, subject: str, body: str) -> dict[str, list[str]]:
    """Errors by form field for a template: placeholders and tags first, then the channel's limits."""
    errors: dict[str, list[str]] = {}
    if event not in EVENTS:
        errors["event"] = [str(_("Unknown event %(event)s.") % {"event": event})]
        return errors
    for name, source in (("subject", subject), ("body", body)):
        problems = template_check(event=event, source=source)
        if problems:
            errors[name] = problems
    if errors:
        return errors
    if channel not in CHANNELS:
        return {"channel": [str(_("Unknown channel %(channel)s.") % {"channel": channel})]}
    try:
        medium = channel_for(channel)
    except KeyError:
        return {}  # a channel not installed here has no limits to check
    sample_subject, sample_body, fields = render_sample(event=event, subject=subject, body=body)
    problems = medium.check_template(subject=sample_subject, body=sample_body, fields=fields)
    if problems:
        errors["body"] = [str(_("On %(channel)s: %(problem)s") % {"channel": channel, "problem": p}) for p in problems]
    return errors
