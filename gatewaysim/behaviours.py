"""Misbehaviour switches: which request gets which failure.

A rule names a behaviour and when it fires: for a channel (or both), an endpoint, a number of
times, a probability drawn from a seeded RNG, and optionally only on the first attempt of each
merchant number ("fail 20% of first attempts"). The first rule that fires for a request decides it.

Endpoints: ``refund`` (the default) and ``query`` (the refund query); for collections ``create``
(WeChat unified order, Alipay precreate and wap pay), ``pay_query`` (the order / trade query),
``close``, and ``pay_notify`` (the payment notification sent when the student pays: the
``notify_*`` behaviours are its alone, and its default); ``any`` is every endpoint but
``pay_notify``. The ``query_*`` behaviours belong to ``query`` (the default) or ``pay_query``.
"""

from __future__ import annotations

import enum
import random
import threading
from collections import Counter
from dataclasses import dataclass


class Behaviour(enum.StrEnum):
    """What the simulator does to a request instead of (or besides) answering it plainly."""

    PROCESSING_THEN_SUCCESS = "processing_then_success"  # accepted, succeeds (and calls back) after ``delay``
    SYSTEM_ERROR = "system_error"  # nothing moved; WeChat SYSTEMERROR / Alipay ACQ.SYSTEM_ERROR
    INSUFFICIENT_BALANCE = "insufficient_balance"  # nothing moved; NOTENOUGH / ACQ.SELLER_BALANCE_NOT_ENOUGH
    TRADE_NOT_EXIST = "trade_not_exist"  # nothing moved; INVALID_TRANSACTIONID / ACQ.TRADE_NOT_EXIST
    SLOW = "slow"  # waits ``delay`` seconds, then handles the request normally
    HTTP_500 = "http_500"  # nothing moved; HTTP 500
    CRASH_AFTER_EXECUTE = "crash_after_execute"  # money moved, then the connection is dropped unanswered
    HTTP_500_AFTER_EXECUTE = "http_500_after_execute"  # money moved, then HTTP 500
    HANG_AFTER_EXECUTE = "hang_after_execute"  # money moved, answer held until ``release()`` or ``delay``
    BAD_SIGNATURE = "bad_signature"  # money moved, the answer's signature is wrong
    DUPLICATE_CALLBACK = "duplicate_callback"  # the notification is sent twice
    CALLBACK_BEFORE_RESPONSE = "callback_before_response"  # the notification is delivered before the answer
    # The refund query only, whatever became of the refund:
    QUERY_ERROR = "query_error"  # a signed business error that is no retry code: WeChat ERROR, Alipay 40002
    QUERY_NOT_FOUND = "query_not_found"  # "never heard of it", even after the money moved (a lagging gateway)
    QUERY_TIMEOUT = "query_timeout"  # no answer: held ``delay`` seconds (past the client's timeout), then dropped
    # The payment notification only (endpoint pay_notify), when the student pays:
    NOTIFY_NEVER = "notify_never"  # no notification at all: only a query tells
    NOTIFY_BAD_SIGNATURE = "notify_bad_signature"  # sent (and sent again) with a wrong signature
    NOTIFY_WRONG_AMOUNT = "notify_wrong_amount"  # correctly signed, but for one fen more than was paid
    NOTIFY_REPLAY = "notify_replay"  # the genuine notification, then the very same one again


QUERY_BEHAVIOURS = frozenset({Behaviour.QUERY_ERROR, Behaviour.QUERY_NOT_FOUND, Behaviour.QUERY_TIMEOUT})
NOTIFY_BEHAVIOURS = frozenset(
    {Behaviour.NOTIFY_NEVER, Behaviour.NOTIFY_BAD_SIGNATURE, Behaviour.NOTIFY_WRONG_AMOUNT, Behaviour.NOTIFY_REPLAY}
)
# Refusals for good. A gateway answers a merchant refund number it already took from its books
# (refunds are idempotent by number), so these fire only on a number it has not seen.
REFUSAL_BEHAVIOURS = frozenset({Behaviour.INSUFFICIENT_BALANCE, Behaviour.TRADE_NOT_EXIST})
# What ``query_error`` answers unless the rule names its own ``code``: WeChat's err_code, Alipay's sub_code.
DEFAULT_QUERY_ERROR_CODES = {"wechat": "ERROR", "alipay": "isv.invalid-signature"}


ENDPOINTS = ("refund", "query", "create", "pay_query", "close", "pay_notify", "any")
QUERY_ENDPOINTS = ("query", "pay_query")

DEFAULT_DELAYS = {
    Behaviour.PROCESSING_THEN_SUCCESS: 0.3,
    Behaviour.SLOW: 1.0,
    Behaviour.HANG_AFTER_EXECUTE: 600.0,
    Behaviour.QUERY_TIMEOUT: 30.0,  # the apps' gateway timeout is 15 s by default
}


@dataclass
class Rule:
    behaviour: Behaviour
    channel: str | None = None  # None: both channels
    endpoint: str | None = None  # None: "query" for query_*, "pay_notify" for notify_*, else "refund"
    times: int | None = None  # None: every time
    probability: float | None = None  # None: always
    first_attempt_only: bool = False
    delay: float | None = None
    code: str | None = None  # query_error only: the error code to answer (DEFAULT_QUERY_ERROR_CODES)

    @property
    def seconds(self) -> float:
        return self.delay if self.delay is not None else DEFAULT_DELAYS.get(self.behaviour, 0.0)

    def error_code(self, channel: str) -> str:
        return self.code or DEFAULT_QUERY_ERROR_CODES[channel]


class BehaviourBook:
    """The active rules, the seeded RNG, and how often each refund number has been tried."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._seed = seed
        self.reset()

    def reset(self, seed: int | None = None) -> None:
        with self._lock:
            if seed is not None:
                self._seed = seed
            self.rules: list[Rule] = []
            self._attempts: Counter[tuple[str, str, str]] = Counter()
            # Not for security: a reproducible sequence of simulated failures.
            self._rng = random.Random(self._seed)  # noqa: S311

    def add(self, rule: Rule) -> Rule:
        rule.behaviour = Behaviour(rule.behaviour)
        query_only = rule.behaviour in QUERY_BEHAVIOURS
        notify_only = rule.behaviour in NOTIFY_BEHAVIOURS
        if rule.endpoint is None:
            rule.endpoint = "query" if query_only else "pay_notify" if notify_only else "refund"
        if rule.endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint must be one of {ENDPOINTS}, not {rule.endpoint!r}")
        if rule.channel not in (None, "wechat", "alipay"):
            raise ValueError(f"channel must be 'wechat', 'alipay' or None, not {rule.channel!r}")
        if rule.probability is not None and not 0 <= rule.probability <= 1:
            raise ValueError("probability must be between 0 and 1")
        if query_only and rule.endpoint not in QUERY_ENDPOINTS:
            raise ValueError(f"{rule.behaviour} is a behaviour of a query: endpoint must be 'query' or 'pay_query'")
        if notify_only != (rule.endpoint == "pay_notify"):
            raise ValueError("the notify_* behaviours, and only they, belong to endpoint 'pay_notify'")
        if rule.code is not None and (
            rule.behaviour != Behaviour.QUERY_ERROR or not isinstance(rule.code, str) or not rule.code.strip()
        ):
            raise ValueError("code is the error code query_error answers, and only that")
        if rule.delay is not None and rule.delay < 0:
            raise ValueError("delay must not be negative")
        with self._lock:
            self.rules.append(rule)
        return rule

    def pick(self, *, channel: str, endpoint: str, number: str, known: bool = False) -> Rule | None:
        """Count this attempt of ``number`` and return the rule that fires for it, if any. For a
        number the gateway already knows (``known``), the refusals are passed over (and not used up)."""
        with self._lock:
            self._attempts[(channel, endpoint, number)] += 1
            attempt = self._attempts[(channel, endpoint, number)]
            for rule in self.rules:
                if rule.channel not in (None, channel) or rule.endpoint not in ("any", endpoint):
                    continue
                if rule.endpoint == "any" and endpoint == "pay_notify":
                    continue
                if known and rule.behaviour in REFUSAL_BEHAVIOURS:
                    continue
                if rule.first_attempt_only and attempt > 1:
                    continue
                if rule.times is not None and rule.times <= 0:
                    continue
                if rule.probability is not None and self._rng.random() >= rule.probability:
                    continue
                if rule.times is not None:
                    rule.times -= 1
                return rule
            return None

    def attempts(self, channel: str, number: str, endpoint: str = "refund") -> int:
        with self._lock:
            return self._attempts[(channel, endpoint, number)]
