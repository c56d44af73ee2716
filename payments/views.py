"""The gateways' refund callbacks. Verified by the adapter, matched to our payout by the service;
anything refused is kept in ``RejectedCallback`` and changes nothing."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from orders.models import PaymentChannel

from . import services
from .gateways.base import CallbackRejected
from .gateways.registry import gateway_for

MAX_CALLBACK_BYTES = 64 * 1024


def _callback(request: HttpRequest, *, channel: str) -> HttpResponse:
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


def _reply(gateway, *, ok: bool) -> HttpResponse:
    reply = gateway.callback_reply(ok=ok)
    return HttpResponse(reply.body, content_type=reply.content_type, status=reply.status)


@csrf_exempt
@require_POST
def wechat_refund_notify(request: HttpRequest) -> HttpResponse:
    return _callback(request, channel=PaymentChannel.WECHAT)


@csrf_exempt
@require_POST
def alipay_notify(request: HttpRequest) -> HttpResponse:
    return _callback(request, channel=PaymentChannel.ALIPAY)
