"""Floor views: a bare JSON view (ingest floor) and a bare group-send trigger (echo floor)."""

from __future__ import annotations

import json

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.utils.html import format_html
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

ECHO_GROUP = "echo"


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@csrf_exempt
@require_POST
def bare(request: HttpRequest) -> JsonResponse:
    """Reads the same JSON body as POST /api/v1/messages, stores nothing, answers 201."""
    data = json.loads(request.body)
    return JsonResponse({"id": str(data.get("id")), "handoff": None, "paused": False}, status=201)


@csrf_exempt
@require_POST
def echo(request: HttpRequest) -> JsonResponse:
    """One group_send of a tiny fragment to every echo socket, the way handoffs.live sends."""
    text = json.loads(request.body)["text"]
    html = format_html('<div id="echo" hx-swap-oob="beforeend">{}</div>', text)
    async_to_sync(get_channel_layer().group_send)(ECHO_GROUP, {"type": "push.html", "html": html})
    return JsonResponse({"sent": True}, status=201)


urlpatterns = [
    path("healthz", healthz),
    path("bare", bare),
    path("echo", echo),
]
