"""Who a web chat visitor is: a random id in the server-side session, never chosen by the
client, and a signed copy of it for the socket URL."""

from __future__ import annotations

import re
import secrets
from typing import TypeGuard

from django.core import signing

SESSION_KEY = "hitlnext_webchat_visitor"
_TOKEN_SALT = "hitlnext.webchat.visitor"
_TOKEN_MAX_AGE = 7 * 24 * 3600
_VISITOR_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def new_visitor_id() -> str:
    return secrets.token_urlsafe(18)


def is_visitor_id(value: object) -> TypeGuard[str]:
    # Also keeps the id usable as a channel-layer group name (ASCII, short).
    return isinstance(value, str) and bool(_VISITOR_ID.match(value))


def visitor_token(visitor_id: str) -> str:
    """A signed, expiring copy of the id for the socket URL.

    Browsers withhold the SameSite=Lax session cookie inside a cross-site iframe, so an
    embedded chat's socket would otherwise have no identity. The token is only ever
    rendered into the visitor's own page.
    """
    return signing.dumps(visitor_id, salt=_TOKEN_SALT)


def visitor_from_token(token: str) -> str | None:
    try:
        value = signing.loads(token, salt=_TOKEN_SALT, max_age=_TOKEN_MAX_AGE)
    except signing.BadSignature:
        return None
    return value if is_visitor_id(value) else None


def visitor_group(visitor_id: str) -> str:
    return f"visitor.{visitor_id}"


def conversation_external_id(visitor_id: str) -> str:
    return f"web-{visitor_id}"


def language_from_header(accept_language: str) -> str | None:
    """The visitor's first preferred language (its primary subtag), for system messages."""
    first = accept_language.split(",")[0].split(";")[0].strip().lower()
    primary = first.split("-")[0]
    return primary if re.fullmatch(r"[a-z]{2,3}", primary) else None
