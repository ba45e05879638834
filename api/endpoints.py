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
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI, Query, Status
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.security import HttpBearer

from api.http import BotRequest
from api.idempotency import HEADER, OPENAPI_HEADER, IdempotencyConflict, idempotent
from api.schemas import (
    TIMEOUT_MAX_SECONDS,
    AgentList,
    Error,
    EventPage,
    HandoffIn,
    HandoffOut,
    MessageIn,
    MessageOut,
)
from conversations.keys import hash_api_key
from conversations.models import Bot
from conversations.text import UNSTORABLE
from handoffs.errors import HandoffError, UnknownLabel
from handoffs.messaging import relay_message
from handoffs.models import Handoff
from handoffs.payloads import handoff_json
from handoffs.services import reject_handoff, start_handoff
from hitlnext_project.shared import ratelimit
from routing.load import agent_loads
from webhooks.events import SEQUENCE_BATCH, sequence_events
from webhooks.models import Event

logger = logging.getLogger(__name__)

# Seconds a client is asked to wait when the database is unavailable (503).
DATABASE_RETRY_AFTER = 5
# The largest value a cursor (an Event pk, a bigint) can take.
CURSOR_MAX = 2**63 - 1


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
        # Keys are stored hashed; the hash is unique and indexed.
        return Bot.objects.filter(api_key_hash=hash_api_key(token)).first()


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


api = NinjaAPI(
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
    errors = [{"field": _field_path(e["loc"]), "message": e["msg"]} for e in exc.errors]
    if any(_field_path(e["loc"]) == "" and e["type"] == "missing" for e in exc.errors):
        # No body at all on an endpoint that needs one.
        return error_response(request, 400, "The request body must be a JSON object.")
    fields = ", ".join(dict.fromkeys(e["field"] for e in errors))
    return error_response(request, 422, f"The request has invalid fields: {fields}.", errors)


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


@api.exception_handler(HandoffError)
def _refused(request: HttpRequest, exc: HandoffError) -> HttpResponse:
    if isinstance(exc, UnknownLabel):
        return error_response(
            request,
            422,
            "The request has invalid fields: labels.",
            [{"field": "labels", "message": str(exc)}],
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
    return dict.fromkeys(codes, Error)


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


@api.get(
    "/handoffs/{int:handoff_id}",
    response={200: HandoffOut, **_errors(401, 404, 429)},
    summary="Get a handoff",
)
def get_handoff(request: BotRequest, handoff_id: int) -> Status:
    return Status(200, handoff_json(_get_handoff(request, handoff_id)))


@api.post(
    "/handoffs/{int:handoff_id}/reject",
    response={200: HandoffOut, **_errors(401, 404, 409, 413, 422, 429)},
    summary="Reject (cancel) a handoff",
    openapi_extra=OPENAPI_HEADER,
    description="The bot takes the conversation back (the user left...). 409 once the "
    f"handoff is resolved, rejected or expired. Honours the {HEADER} header.",
)
@idempotent
def reject(request: BotRequest, handoff_id: int) -> Status:
    handoff = reject_handoff(handoff=_get_handoff(request, handoff_id))
    return Status(200, handoff_json(handoff))


@api.post(
    "/messages",
    response={201: MessageOut, 200: MessageOut, **_errors(400, 401, 409, 413, 422, 429)},
    summary="Relay a message",
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
    after: str | None = Query(None, description="A `next_cursor`; absent: from the start."),
    limit: int = Query(100, ge=1, le=500),
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
