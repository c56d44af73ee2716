"""What a channel's endpoint sees of a request and gives back, free of the HTTP server's details."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Exchange:
    """One incoming request."""

    method: str
    path: str  # without the query string, no leading slash: "secapi/pay/refund", "gateway.do"
    query: str
    body: bytes
    content_type: str = ""
    has_client_cert: bool = False  # a client certificate signed by the simulator's CA was presented


@dataclass
class Answer:
    """What to send back, and how to misbehave while doing it."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    drop: bool = False  # close the connection without answering
    hold: float | None = None  # keep the answer back up to this many seconds (``release()`` ends it)

    @classmethod
    def xml(cls, text: str, status: int = 200) -> Answer:
        return cls(status=status, body=text.encode("utf-8"), content_type="text/xml; charset=utf-8")

    @classmethod
    def json(cls, text: str, status: int = 200) -> Answer:
        return cls(status=status, body=text.encode("utf-8"), content_type="application/json; charset=utf-8")

    @classmethod
    def server_error(cls) -> Answer:
        return cls(status=500, body=b"Internal Server Error")
