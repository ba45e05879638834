"""Who a web chat visitor is: a random id, never chosen by the client, kept in a signed cookie
(no database row until the visitor writes), and a signed copy of it for the socket URL."""

from __future__ import annotations

import re
import secrets
from typing import TypeGuard

from django.conf import settings
from django.core import signing
from django.http.response import HttpResponseBase

COOKIE_NAME = "hitlnext_visitor"
_COOKIE_SALT = "hitlnext.webchat.visitor.cookie"
# Refreshed at every page view: a visitor is remembered for two weeks after their last visit,
# as long as the session cookie that used to carry the id.
_COOKIE_MAX_AGE = 14 * 24 * 3600
# Where the id lived before the cookie; only read (webchat/views.py), so that conversations
# started before the change survive it. No longer written.
SESSION_KEY = "hitlnext_webchat_visitor"
_TOKEN_SALT = "hitlnext.webchat.visitor"
_TOKEN_MAX_AGE = 7 * 24 * 3600
_VISITOR_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def new_visitor_id() -> str:
    return secrets.token_urlsafe(18)


def is_visitor_id(value: object) -> TypeGuard[str]:
    # Also keeps the id usable as a channel-layer group name (ASCII, short).
    return isinstance(value, str) and bool(_VISITOR_ID.match(value))


def _cookie_signer() -> signing.TimestampSigner:
    # Not set_signed_cookie()/get_signed_cookie(): the socket, which has no request, must read
    # the cookie too, and Django's way of deriving that signer is private.
    return signing.TimestampSigner(salt=_COOKIE_SALT)


def set_visitor_cookie(response: HttpResponseBase, visitor_id: str) -> None:
    response.set_cookie(
        COOKIE_NAME,
        _cookie_signer().sign(visitor_id),
        max_age=_COOKIE_MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=settings.HTTPS,
    )


def visitor_from_cookie(value: str | None) -> str | None:
    """The id in a cookie set by set_visitor_cookie (for the page and the socket), or None."""
    if not value:
        return None
    try:
        visitor_id = _cookie_signer().unsign(value, max_age=_COOKIE_MAX_AGE)
    except signing.BadSignature:
        return None
    return visitor_id if is_visitor_id(visitor_id) else None


def visitor_token(visitor_id: str) -> str:
    """A signed, expiring copy of the id for the socket URL.

    Browsers withhold the SameSite=Lax visitor cookie inside a cross-site iframe, so an
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
