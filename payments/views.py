"""The gateways' callbacks: one view for every gateway's refund notifications and one for their
payment notifications (collections), which the registry names by channel.

Verified by the gateway's adapter, matched to our payout (or collection) by the service; anything
refused is kept in ``RejectedCallback`` and changes nothing."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import collections, services
from .gateways.base import CallbackRejected, RefundGateway
from .gateways.registry import gateway_for

MAX_CALLBACK_BYTES = 64 * 1024


@csrf_exempt
@require_POST
def gateway_notify(request: HttpRequest, *, channel: str) -> HttpResponse:
    """A gateway reports the outcome of a refund (``channel`` comes from the URL's registration)."""
    gateway = gateway_for(channel)
    remote = request.META.get("REMOTE_ADDR")
    body = request.body[:MAX_CALLBACK_BYTES]
    text = body.decode("utf-8", "replace")
    if len(request.body) > MAX_CALLBACK_BYTES:
        services.callback_refuse(channel=channel, reason="Body too large.", remote_addr=remote, body=text)
        return _reply(gateway, ok=False)
    try:
        notice = gateway.parse_callback(
            body=body, content_type=request.content_type or "", post=request.POST.dict() if request.POST else {}
        )
    except CallbackRejected as exc:
        services.callback_refuse(channel=channel, reason=str(exc), remote_addr=remote, body=text)
        return _reply(gateway, ok=False)
    result = services.payout_callback_apply(channel=channel, notice=notice, remote_addr=remote, body=text)
    return _reply(gateway, ok=result.accepted)


@csrf_exempt
@require_POST
def collection_notify(request: HttpRequest, *, channel: str) -> HttpResponse:
    """A gateway reports a payment of one of our collections (or the refund of one)."""
    gateway = gateway_for(channel)
    remote = request.META.get("REMOTE_ADDR")
    body = request.body[:MAX_CALLBACK_BYTES]
    if len(request.body) > MAX_CALLBACK_BYTES:
        text = body.decode("utf-8", "replace")
        services.callback_refuse(channel=channel, reason="Body too large.", remote_addr=remote, body=text)
        return _reply(gateway, ok=False)
    result = collections.collection_on_callback(
        channel=channel,
        body=body,
        content_type=request.content_type or "",
        post=request.POST.dict() if request.POST else {},
        remote_addr=remote,
    )
    return _reply(gateway, ok=result.accepted)


def _reply(gateway: RefundGateway, *, ok: bool) -> HttpResponse:
    reply = gateway.callback_reply(ok=ok)
    return HttpResponse(reply.body, content_type=reply.content_type, status=reply.status)
