"""Idempotency-Key support for the bot API's POST endpoints.

A bot that retries a request after a timeout sends the same `Idempotency-Key`; it gets the
first response back instead of a second effect. The key is remembered per bot together with
a fingerprint of the request, so reusing a key for a different request is refused (409).
Only successful responses are remembered: a refused request changed nothing, so retrying it
simply runs it again.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from ninja import Status
from ninja.errors import ValidationError

from api.http import BotRequest
from api.models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
# The header in the OpenAPI document (ninja does not see headers read by a decorator).
OPENAPI_HEADER = {
    "parameters": [
        {
            "in": "header",
            "name": HEADER,
            "required": False,
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
            "example": "7d4f2c1e-5b7a-4c1d-9f3e-2a6b8c0d4e1f",
            "description": "Retry safely: the same key and request replay the first "
            "response; the same key with another request is a 409.",
        }
    ]
}
# Written in the same transaction as the first request's effect and overwritten with its
# response before commit, so no other request ever reads a record in this state.
_IN_FLIGHT = 0


class IdempotencyConflict(Exception):
    """The key was used before with a different request."""

    def __init__(self) -> None:
        super().__init__(
            f"This {HEADER} was already used with a different request; "
            "use a new key for a new request."
        )


def request_fingerprint(request: HttpRequest) -> str:
    """Method, path and body; the body canonicalised so that key order and spacing don't count."""
    body = request.body
    try:
        body = json.dumps(
            json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    except ValueError:
        pass  # not JSON (the reject endpoint takes no body): the raw bytes are the identity
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    digest.update(body)
    return digest.hexdigest()


def idempotent(view: Callable) -> Callable:
    """Honour the Idempotency-Key header on a view returning `Status(code, body)`.

    Runs after authentication and body validation: those failures are never remembered.
    """

    @functools.wraps(view)
    def wrapper(request: BotRequest, *args: Any, **kwargs: Any) -> Status | HttpResponse:
        key = request.headers.get(HEADER)
        if key is None:
            return view(request, *args, **kwargs)
        if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
            # Control characters (NUL above all, which PostgreSQL cannot store) are refused.
            raise ValidationError(
                [
                    {
                        "loc": ("header", HEADER),
                        "msg": f"Must be 1 to {MAX_KEY_LENGTH} printable characters.",
                        "type": "string_length",
                    }
                ]
            )
        fingerprint = request_fingerprint(request)
        with transaction.atomic():
            # The race: two copies of one request arrive at once (a client retrying before
            # its first attempt answered). Both try to insert the (bot, key) row; the unique
            # constraint lets one through. On PostgreSQL the second INSERT waits for the
            # first transaction and fails once it commits, then reads the committed response
            # below (on SQLite, BEGIN IMMEDIATE already queues them). The savepoint keeps
            # the outer transaction usable after that IntegrityError.
            try:
                with transaction.atomic():
                    record = IdempotencyRecord.objects.create(
                        bot=request.auth,
                        key=key,
                        request_hash=fingerprint,
                        status_code=_IN_FLIGHT,
                        body={},
                    )
            except IntegrityError:
                return _replay(
                    IdempotencyRecord.objects.get(bot=request.auth, key=key), fingerprint
                )
            # The effect and its remembered response commit together, or neither does: an
            # exception here rolls the record back with everything else.
            result = view(request, *args, **kwargs)
            assert isinstance(result, Status), "idempotent views return Status(code, body)"
            IdempotencyRecord.objects.filter(pk=record.pk).update(
                status_code=result.status_code, body=result.value
            )
        return result

    # ninja resolves string annotations (from __future__ import annotations) in the globals
    # of the function it is given; ours are not the view's, so hand it the resolved signature.
    # (typeshed declares no __signature__ on functions, though inspect.signature() reads it.)
    wrapper.__signature__ = inspect.signature(view, eval_str=True)  # type: ignore[attr-defined]
    return wrapper


def _replay(record: IdempotencyRecord, fingerprint: str) -> HttpResponse:
    if record.request_hash != fingerprint:
        raise IdempotencyConflict()
    response = JsonResponse(
        record.body,
        status=record.status_code,
        safe=False,
        content_type="application/json; charset=utf-8",
    )
    response["Idempotent-Replayed"] = "true"
    return response


# How long a key is remembered: clients retry within minutes, a day is plenty.
KEYS_KEPT = timedelta(days=1)


def prune_idempotency_records(*, before: datetime | None = None) -> int:
    """Forget keys older than `before` (a day is the usual retry window); returns how many."""
    before = before or timezone.now() - KEYS_KEPT
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=before).delete()
    return deleted
