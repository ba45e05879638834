"""Floor views: a bare JSON view and the irreducible transaction (ingest floors), and a bare
group-send trigger (echo floor)."""

from __future__ import annotations

import json
import os
import threading
from typing import Any

import psycopg
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection as django_connection
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from psycopg.types.json import Jsonb

ECHO_GROUP = "echo"


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@csrf_exempt
@require_POST
def bare(request: HttpRequest) -> JsonResponse:
    """Reads the same JSON body as POST /api/v1/messages, stores nothing, answers 201."""
    data = json.loads(request.body)
    return JsonResponse({"id": str(data.get("id")), "handoff": None, "paused": False}, status=201)


# --- The irreducible transaction ------------------------------------------------------------
# What a relayed message must do and nothing else: lock its conversation (requests about one
# conversation take turns), insert the message row, COMMIT durably (the 201 promises it is
# stored). Raw SQL through psycopg, one connection per serving thread, the bot known in
# advance (BENCH_BOT_ID): no authentication, no validation, no ORM, no events, no pushes.

_local = threading.local()
LOCK = "SELECT id FROM conversations_conversation WHERE bot_id = %s AND external_id = %s FOR UPDATE"


def _insert_statement() -> tuple[str, list[str], dict[str, Any]]:
    """INSERT of a conversations_message row naming every column (Django sets no database
    defaults), from the model, so a column added later is filled with its default; the
    columns a request sets, and the constant values of the others."""
    from conversations.models import Message

    varying = {"conversation", "external_id", "direction", "text", "payload", "created_at"}
    fields = [
        f
        for f in Message._meta.concrete_fields
        if not f.primary_key and not getattr(f, "generated", False)
    ]
    constants = {
        f.column: f.get_db_prep_save(f.get_default(), django_connection)
        for f in fields
        if f.name not in varying
    }
    columns = [f.column for f in fields]
    sql = (
        f"INSERT INTO {Message._meta.db_table} ({', '.join(columns)}) "
        f"VALUES ({', '.join(f'%({c})s' for c in columns)}) RETURNING id"
    )
    return sql, columns, constants


def _connection() -> psycopg.Connection:
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        s = django_connection.settings_dict
        conn = psycopg.connect(
            dbname=s["NAME"],
            user=s["USER"] or None,
            password=s["PASSWORD"] or None,
            host=s["HOST"] or None,
            port=s["PORT"] or None,
        )
        _local.conn = conn
        _local.insert = _insert_statement()
    return conn


@csrf_exempt
@require_POST
def irreducible(request: HttpRequest) -> JsonResponse:
    """The same body as POST /api/v1/messages: one locked read, one insert, one COMMIT."""
    data = json.loads(request.body)
    conn = _connection()
    sql, _, constants = _local.insert
    with conn.transaction():  # COMMIT at the end (synchronous_commit: durable)
        row = conn.execute(LOCK, (int(os.environ["BENCH_BOT_ID"]), data["conversation_id"]))
        found = row.fetchone()
        if found is None:
            return JsonResponse({"detail": "unknown conversation"}, status=404)
        message_id = conn.execute(
            sql,
            constants
            | {
                "conversation_id": found[0],
                "external_id": data["id"],
                "direction": data["direction"],
                "text": data.get("text") or "",
                "payload": Jsonb(data.get("payload") or {}),
                "created_at": timezone.now(),
            },
        ).fetchone()[0]
    return JsonResponse({"id": f"msg_{message_id}", "handoff": None, "paused": False}, status=201)


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
    path("irreducible", irreducible),
    path("echo", echo),
]
