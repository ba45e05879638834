"""The bot API (v1): the JSON contract bots rely on (README "The bot API"; the OpenAPI
document at /api/v1/openapi.json describes every field).

Endpoints stay thin: authenticate the bot, validate, call the same services as the agent
pages, shape the answer with handoffs.payloads. Nothing slow happens in the request: webhook
delivery is the worker's job (services only write outbox rows).

Every error, whoever raises it (ninja, Django, the services), leaves as
`{"detail": "<sentence>", "errors": [{"field": "<dotted path>", "message": "..."}]}`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any, Literal

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, InterfaceError, OperationalError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from ninja import Path, Query, Status
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.security import HttpBearer

from api.base import BotAPI
from api.http import BotRequest
from api.idempotency import HEADER, OPENAPI_HEADER, IdempotencyConflict, idempotent
from api.schemas import (
    PAGE_MAX,
    TIMEOUT_MAX_SECONDS,
    AgentList,
    DeliveryPage,
    Error,
    EventPage,
    HandoffIn,
    HandoffOut,
    LabelList,
    MessageIn,
    MessageOut,
    RatingIn,
    RatingOut,
)
from api.validation import plain_message
from conversations.keys import hash_api_key
from conversations.models import Bot
from conversations.text import UNSTORABLE
from handoffs.errors import HandoffError, UnknownLabel
from handoffs.messaging import relay_message
from handoffs.models import Handoff, Label
from handoffs.payloads import handoff_json, rating_json
from handoffs.ratings import rate_handoff
from handoffs.services import reject_handoff, start_handoff
from hitlnext_project.shared import ratelimit
from routing.load import agent_loads
from webhooks.events import SEQUENCE_BATCH, isoformat, sequence_events
from webhooks.models import Delivery, Event

logger = logging.getLogger(__name__)

# Seconds a client is asked to wait when the database is unavailable (503).
DATABASE_RETRY_AFTER = 5
# The largest value a cursor (an Event pk, a bigint) can take.
CURSOR_MAX = 2**63 - 1


BOT_BY_KEY_HASH = f"SELECT * FROM {Bot._meta.db_table} WHERE api_key_hash = %s"


class BotKey(HttpBearer):
    """`Authorization: Bearer <api key>`; the authenticated Bot becomes `request.auth`."""

    def __call__(self, request: HttpRequest) -> Bot | None:
        # Not HttpBearer.__call__: in DEBUG it logs a malformed header, which may be a key.
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        bot = self.authenticate(request, token)
        if bot is not None:
            # After authentication (an unknown key has nothing to count against), before any
            # work: ninja turns the exception into the 429 below.
            limit, window = settings.HITLNEXT_API_RATE_LIMIT
            wait = ratelimit.hit(f"api:{bot.api_key_hash[:32]}", limit=limit, window=window)
            if wait is not None:
                raise RateLimited(wait)
        return bot

    def authenticate(self, request: HttpRequest, token: str) -> Bot | None:
        # Keys are stored hashed; the hash is unique and indexed. Raw SQL: on every API call
        # the ORM took longer to build this query than PostgreSQL took to answer it (0.26 ms
        # of CPU against 0.10 ms). The webhook secret is decrypted only if read.
        return next(iter(Bot.objects.raw(BOT_BY_KEY_HASH, [hash_api_key(token)])), None)


class RateLimited(Exception):
    def __init__(self, wait: int) -> None:
        super().__init__(f"Too many requests: this bot may retry in {wait} s.")
        self.wait = wait


class MalformedBody(ValueError):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _find_unstorable(data: Any) -> tuple[str, str] | None:
    """Where (a dotted path; for a bad key, its object's) and which unstorable character."""
    stack: list[tuple[tuple[str, ...], Any]] = [((), data)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            found = UNSTORABLE.search(item)
            if found:
                return ".".join(where), found.group()
        elif isinstance(item, dict):
            for key, child in item.items():
                found = UNSTORABLE.search(key)
                if found:
                    return ".".join(where), found.group()
                stack.append(((*where, key), child))
        elif isinstance(item, list):
            stack.extend(((*where, str(n)), child) for n, child in enumerate(item))
    return None


def _reject_constant(name: str) -> Any:
    raise MalformedBody(f"{name} is not JSON")


class JsonObjectParser(Parser):
    """Bodies are JSON objects; anything else is a 400, never a 422 about "payload"."""

    def parse_body(self, request: HttpRequest) -> dict:
        try:
            # NaN/Infinity are not JSON, and PostgreSQL's jsonb would refuse them later.
            data = json.loads(request.body, parse_constant=_reject_constant)
        except RecursionError as exc:
            raise MalformedBody("The request body is nested too deeply.") from exc
        except ValueError as exc:
            raise MalformedBody(f"The request body is not valid JSON: {exc}.") from exc
        if not isinstance(data, dict):
            raise MalformedBody("The request body must be a JSON object.")
        unstorable = _find_unstorable(data)
        if unstorable:
            field, char = unstorable
            raise MalformedBody(
                f"The request body holds a character that cannot be stored "
                f"(U+{ord(char):04X}) in {field or 'the body'}.",
                field=field,
            )
        return data


api = BotAPI(
    title="hitlnext bot API",
    version="1",
    description="Hand conversations to live agents, relay messages, read events. "
    "Authenticate with `Authorization: Bearer <bot api key>`.",
    urls_namespace="api_v1",
    openapi_url="/openapi.json",
    docs_url="/docs",
    auth=BotKey(),
    parser=JsonObjectParser(),
)


# --- Errors ---------------------------------------------------------------------------------


def error_response(
    request: HttpRequest, status: int, detail: str, errors: Iterable[dict] = ()
) -> HttpResponse:
    return api.create_response(request, {"detail": detail, "errors": list(errors)}, status=status)


def _field_path(loc: Iterable[Any]) -> str:
    parts = list(loc)
    if parts[:1] == ["body"]:
        parts = parts[2:]  # ("body", <the view's parameter name>, *field path)
    elif parts[:1] and parts[0] in {"query", "path", "header", "cookie"}:
        parts = parts[1:]
    return ".".join(str(part) for part in parts)


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    if any(_field_path(e["loc"]) == "" and e["type"] == "missing" for e in exc.errors):
        # No body at all on an endpoint that needs one.
        return error_response(request, 400, "The request body must be a JSON object.")
    errors = [{"field": _field_path(e["loc"]), "message": plain_message(e)} for e in exc.errors]
    unknown = [_field_path(e["loc"]) for e in exc.errors if e["type"] == "extra_forbidden"]
    invalid = [err["field"] for err in errors if err["field"] not in unknown]
    parts = []
    if invalid:
        parts.append("invalid fields: " + ", ".join(dict.fromkeys(invalid)))
    if unknown:
        parts.append("unknown fields: " + ", ".join(dict.fromkeys(unknown)))
    return error_response(request, 422, f"The request has {'; '.join(parts)}.", errors)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = error_response(
        request, 401, "Missing or invalid API key: send 'Authorization: Bearer <key>'."
    )
    response["WWW-Authenticate"] = "Bearer"
    return response


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    # ninja wraps the parser's exception as HttpError(400, "Cannot parse request body").
    cause = exc.__cause__
    detail = str(cause) if isinstance(cause, MalformedBody) else exc.message
    if not detail.endswith("."):
        detail += "."
    errors = []
    if isinstance(cause, MalformedBody) and cause.field is not None:
        errors.append({"field": cause.field, "message": detail})
    return error_response(request, exc.status_code, detail, errors)


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    # The same answer for an unknown id and another bot's object: never reveal which.
    return error_response(request, 404, "Not found.")


# The most label names an unknown-label error lists.
KNOWN_LABELS_LISTED = 50


def _unknown_label_message(exc: UnknownLabel) -> str:
    names = list(
        Label.objects.order_by("name").values_list("name", flat=True)[: KNOWN_LABELS_LISTED + 1]
    )
    unknown = ", ".join(f'"{name}"' for name in exc.names)
    if not names:
        return (
            f"Unknown label: {unknown}. This server has no labels yet: an admin adds them in "
            "the admin (Handoffs > Labels)."
        )
    listed = ", ".join(f'"{name}"' for name in names[:KNOWN_LABELS_LISTED])
    if len(names) > KNOWN_LABELS_LISTED:
        listed += ", ..."
    return f"Unknown label: {unknown}. Known labels (GET /api/v1/labels): {listed}."


@api.exception_handler(HandoffError)
def _refused(request: HttpRequest, exc: HandoffError) -> HttpResponse:
    if isinstance(exc, UnknownLabel):
        return error_response(
            request,
            422,
            "The request has invalid fields: labels.",
            [{"field": "labels", "message": _unknown_label_message(exc)}],
        )
    return error_response(request, 409, str(exc))


@api.exception_handler(IdempotencyConflict)
def _idempotency_conflict(request: HttpRequest, exc: IdempotencyConflict) -> HttpResponse:
    return error_response(request, 409, str(exc), [{"field": HEADER, "message": str(exc)}])


@api.exception_handler(RateLimited)
def _rate_limited(request: HttpRequest, exc: RateLimited) -> HttpResponse:
    response = error_response(request, 429, str(exc))
    response["Retry-After"] = str(exc.wait)
    return response


@api.exception_handler(OperationalError)
@api.exception_handler(InterfaceError)
def _database_unavailable(request: HttpRequest, exc: DatabaseError) -> HttpResponse:
    # The database is down, restarting or out of connections: the transaction rolled back,
    # so nothing was half-written and the request can simply be retried.
    logger.error("bot API: database unavailable on %s %s: %s", request.method, request.path, exc)
    response = error_response(
        request, 503, "The service is temporarily unavailable; retry the request shortly."
    )
    response["Retry-After"] = str(DATABASE_RETRY_AFTER)
    return response


@api.exception_handler(Exception)
def _server_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.error("bot API error on %s %s", request.method, request.path, exc_info=exc)
    return error_response(request, 500, "Internal server error.")


def _body_too_big(request: HttpRequest) -> bool:
    limit = settings.HITLNEXT_API_MAX_BODY
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return True  # refused before reading a byte of it
    try:
        # Content-Length may be absent or understated (chunked on ASGI): count for real.
        # Django's own DATA_UPLOAD_MAX_MEMORY_SIZE check would raise with its HTML 400.
        return len(request.body) > limit
    except RequestDataTooBig:
        return True


def guard(view: Callable) -> Callable:
    """Wraps every URL of the API: body size first, and JSON for Django's own 404/405."""

    @functools.wraps(view)  # keeps ninja's csrf_exempt flag
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if _body_too_big(request):
            limit = settings.HITLNEXT_API_MAX_BODY
            return error_response(
                request, 413, f"The request body is larger than {limit // 1024} KiB."
            )
        try:
            response = view(request, *args, **kwargs)
        except Http404:  # ninja's bare API root raises it outside its handlers
            return error_response(request, 404, "Not found.")
        if response.status_code == 405 and "json" not in response.get("Content-Type", ""):
            allowed = response["Allow"]
            response = error_response(
                request, 405, f"Method {request.method} is not allowed here; use {allowed}."
            )
            response["Allow"] = allowed
        return response

    return guarded


@csrf_exempt
def not_found(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    """Any other path under /api/v1/: JSON, not the site's HTML 404 page."""
    return error_response(request, 404, "Not found.")


def _errors(*codes: int) -> dict[int, type[Error]]:
    # Every operation may meet an unavailable database (503, see _database_unavailable).
    return dict.fromkeys((*codes, 503), Error)


def _invalid(field: str, message: str) -> ValidationError:
    return ValidationError([{"loc": (field,), "msg": message, "type": "value_error"}])


# --- Endpoints ------------------------------------------------------------------------------


def _get_handoff(request: BotRequest, handoff_id: int) -> Handoff:
    """The one access check for handoffs: the authenticated bot's own, else 404."""
    handoff = (
        Handoff.objects.filter(bot=request.auth, pk=handoff_id)
        .select_related("conversation__end_user", "agent__agent_profile")
        .prefetch_related("labels")
        .first()
    )
    if handoff is None:
        raise Http404
    return handoff


@api.post(
    "/handoffs",
    response={201: HandoffOut, 200: HandoffOut, **_errors(400, 401, 409, 413, 422, 429)},
    summary="Start a handoff",
    openapi_extra=OPENAPI_HEADER,
    description="201 with the new handoff, or 200 with the conversation's active one. "
    f"Honours the {HEADER} header. History items with neither text nor payload are skipped.",
)
@idempotent
def create_handoff(request: BotRequest, payload: HandoffIn) -> Status:
    history = [
        {
            "id": item.id,
            "direction": item.direction,
            "text": item.text or "",
            "payload": item.payload or {},
            "created_at": item.created_at,
        }
        for item in payload.history or ()
        if (item.text or "").strip() or item.payload
    ]
    handoff, created = start_handoff(
        bot=request.auth,
        conversation_id=payload.conversation_id,
        user_id=payload.user_id,
        channel=payload.channel,
        language=payload.language or None,
        user_variables=payload.user,
        history=history,
        timeout_seconds=min(payload.timeout_seconds or 0, TIMEOUT_MAX_SECONDS),
        labels=payload.labels or (),
        priority=payload.priority,
    )
    return Status(201 if created else 200, handoff_json(handoff))


HandoffId = Path(..., description="The handoff's id, as created.", examples=[17])


@api.get(
    "/handoffs/{int:handoff_id}",
    response={200: HandoffOut, **_errors(401, 404, 429)},
    summary="Get a handoff",
)
def get_handoff(request: BotRequest, handoff_id: int = HandoffId) -> Status:
    return Status(200, handoff_json(_get_handoff(request, handoff_id)))


@api.post(
    "/handoffs/{int:handoff_id}/reject",
    response={200: HandoffOut, **_errors(401, 404, 409, 413, 422, 429)},
    summary="Reject (cancel) a handoff",
    operation_id="reject_handoff",
    openapi_extra=OPENAPI_HEADER,
    description="The bot takes the conversation back (the user left...). 409 once the "
    f"handoff is resolved, rejected or expired. Honours the {HEADER} header.",
)
@idempotent
def reject(request: BotRequest, handoff_id: int = HandoffId) -> Status:
    handoff = reject_handoff(handoff=_get_handoff(request, handoff_id))
    return Status(200, handoff_json(handoff))


@api.post(
    "/handoffs/{int:handoff_id}/rating",
    response={201: RatingOut, **_errors(400, 401, 404, 409, 413, 422, 429)},
    summary="Rate a handoff",
    operation_id="rate_handoff",
    openapi_extra=OPENAPI_HEADER,
    description="The user's satisfaction with a resolved handoff (CSAT), as the bot asked "
    "for it: 201 with the rating, and the handoff.rated event. 409 unless the handoff is "
    "resolved, and once it is rated (a handoff is rated once, by the bot or in the web "
    f"chat). Honours the {HEADER} header.",
)
@idempotent
def rate(request: BotRequest, payload: RatingIn, handoff_id: int = HandoffId) -> Status:
    rating = rate_handoff(
        handoff=_get_handoff(request, handoff_id),
        score=payload.score,
        comment=payload.comment or "",
        source="bot",
    )
    return Status(201, rating_json(rating))


@api.post(
    "/messages",
    response={201: MessageOut, 200: MessageOut, **_errors(400, 401, 409, 413, 422, 429)},
    summary="Relay a message",
    operation_id="relay_message",
    openapi_extra=OPENAPI_HEADER,
    description="Store one message of the conversation and show it to agents. 200 when this "
    "message id was already relayed (nothing is stored twice). `paused` is true while a "
    f"handoff is pending or assigned: the bot must not answer. Honours the {HEADER} header.",
)
@idempotent
def create_message(request: BotRequest, payload: MessageIn) -> Status:
    text = payload.text or ""
    if not text.strip() and not payload.payload:
        raise _invalid("text", "Give a non-empty text or a non-empty payload.")
    result = relay_message(
        bot=request.auth,
        conversation_id=payload.conversation_id,
        user_id=payload.user_id,
        channel=payload.channel,
        external_id=payload.id,
        direction=payload.direction,
        text=text,
        payload=payload.payload or {},
        created_at=payload.created_at,
    )
    handoff = result.handoff
    body = {
        "id": f"msg_{result.message.pk}",
        "handoff": {"id": handoff.pk, "status": handoff.status} if handoff else None,
        "paused": handoff is not None,
    }
    return Status(201 if result.created else 200, body)


@api.get(
    "/agents",
    response={200: AgentList, **_errors(401, 429)},
    summary="List agents",
    description="Who could take a handoff now: `online` agents and their open handoffs.",
)
def list_agents(request: BotRequest) -> dict:
    return {"agents": [dataclasses.asdict(load) for load in agent_loads()]}


@api.get(
    "/events",
    response={200: EventPage, **_errors(401, 422, 429)},
    summary="Read events",
    description="The webhook's events, oldest first. Pass the previous page's "
    "`next_cursor` as `after`; an empty page returns the same cursor.",
)
def list_events(
    request: BotRequest,
    after: str | None = Query(
        None,
        description="A `next_cursor` from an earlier page; absent: from the oldest event kept.",
        examples=["1042"],
    ),
    limit: int = Query(100, ge=1, le=PAGE_MAX, description="Events per page.", examples=[100]),
) -> dict:
    cursor = 0
    if after:
        if not (after.isascii() and after.isdigit()) or int(after) > CURSOR_MAX:
            raise _invalid("after", "Not a cursor: use a next_cursor from an earlier page.")
        cursor = int(after)
    # The cursor is the commit-ordered feed position, not the id (see Event.feed_seq).
    while sequence_events() == SEQUENCE_BATCH:
        pass
    events = list(
        Event.objects.filter(bot=request.auth, feed_seq__gt=cursor).order_by("feed_seq")[:limit]
    )
    return {
        "events": [event.as_payload() for event in events],
        "next_cursor": str(events[-1].feed_seq if events else cursor),
    }


@api.get(
    "/labels",
    response={200: LabelList, **_errors(401, 429)},
    summary="List labels",
    description="The label names a bot may send in `labels` when it starts a handoff.",
)
def list_labels(request: BotRequest) -> dict:
    return {"labels": list(Label.objects.order_by("name").values("name", "color"))}


# status=failing: not delivered and the last attempt failed (retrying, held by a disabled
# endpoint, or given up).
_DELIVERY_FILTERS = {
    "failing": Q(status=Delivery.Status.FAILED) | Q(status=Delivery.Status.PENDING, attempts__gt=0),
    "pending": Q(status=Delivery.Status.PENDING),
    "delivered": Q(status=Delivery.Status.DELIVERED),
    "failed": Q(status=Delivery.Status.FAILED),
}


@api.get(
    "/deliveries",
    response={200: DeliveryPage, **_errors(401, 422, 429)},
    summary="List webhook deliveries",
    description="This bot's webhook deliveries, newest first, with their attempts, last "
    "error and next try: the bot's own view of what the admin shows. Deliveries are kept as "
    "long as their events (HITLNEXT_EVENT_RETENTION).",
)
def list_deliveries(
    request: BotRequest,
    status: Literal["failing", "pending", "delivered", "failed"] | None = Query(
        None,
        description="failing: not delivered and the last attempt failed (retrying, or "
        "given up); pending, delivered, failed: that status; absent: all.",
        examples=["failing"],
    ),
    before: str | None = Query(
        None,
        description="A `next_cursor` from an earlier page; absent: from the newest.",
        examples=["5071"],
    ),
    limit: int = Query(50, ge=1, le=PAGE_MAX, description="Deliveries per page.", examples=[50]),
) -> dict:
    deliveries = (
        Delivery.objects.filter(bot=request.auth)
        .select_related("event", "conversation")
        .order_by("-pk")
    )
    if status is not None:
        deliveries = deliveries.filter(_DELIVERY_FILTERS[status])
    if before:
        if not (before.isascii() and before.isdigit()) or int(before) > CURSOR_MAX:
            raise _invalid("before", "Not a cursor: use a next_cursor from an earlier page.")
        deliveries = deliveries.filter(pk__lt=int(before))
    rows = list(deliveries[: limit + 1])
    page = rows[:limit]
    return {
        "webhook_enabled": request.auth.webhook_enabled,
        "deliveries": [_delivery_json(delivery) for delivery in page],
        "next_cursor": str(page[-1].pk) if len(rows) > limit else None,
    }


def _delivery_json(delivery: Delivery) -> dict:
    event = delivery.event
    sending = delivery.in_flight()
    due = delivery.status == Delivery.Status.PENDING and not sending
    return {
        "id": delivery.pk,
        "event": {
            "id": event.public_id,
            "type": event.type,
            "created_at": isoformat(event.created_at),
        },
        "conversation_id": delivery.conversation.external_id if delivery.conversation else None,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_attempt_at": isoformat(delivery.last_attempt_at),
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "next_attempt_at": isoformat(delivery.next_attempt_at) if due else None,
        "sending": sending,
        "delivered_at": isoformat(delivery.delivered_at),
    }
