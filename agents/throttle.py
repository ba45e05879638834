"""Failed logins, budgeted per username and per client address: one mechanism for every login
form (the agents' /login/ and the admin's).

    login = throttle_login(LoginView.as_view(authentication_form=ThrottledAuthenticationForm))

The view decorator decides before the password is checked whether this attempt may try at
all, and counts the attempt's failure afterwards; the form refuses, without checking the
password, an attempt the decorator blocked (so the page shows the usual form with the error).

Locked is a pair, not a username alone: once a username has spent its failure budget, only
addresses that have failed logins themselves are refused. Anyone can type five wrong passwords
for "alice", but that must not lock Alice out of her own desk; an attacker guessing from one
address stays locked, and the per-address budget bounds guessing across usernames.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.translation import ngettext

from hitlnext_project.shared import ratelimit

# Set on the request by throttle_login when the attempt is refused: seconds to wait.
BLOCKED_ATTRIBUTE = "hitlnext_login_blocked_for"


@dataclass(frozen=True)
class Budget:
    key: str
    limit: int
    window: int


def _budgets(request: HttpRequest) -> tuple[Budget, Budget, Budget]:
    """(the username's budget, the client address's, and this username from this address)."""
    username = str(request.POST.get("username", "")).strip().lower()
    # Hashed: a username never lands in a cache key as typed (length, odd characters).
    digest = hashlib.sha256(username.encode("utf-8", "replace")).hexdigest()
    user_limit, user_window = settings.HITLNEXT_LOGIN_FAILURES_PER_USERNAME
    ip_limit, ip_window = settings.HITLNEXT_LOGIN_FAILURES_PER_IP
    address = request.META.get("REMOTE_ADDR", "")
    return (
        Budget(f"login:user:{digest}", user_limit, user_window),
        Budget(f"login:ip:{address}", ip_limit, ip_window),
        # Only ever counted, never a limit of its own: who is locked once the username is.
        Budget(f"login:pair:{digest}:{address}", 2**31, user_window),
    )


def _wait(request: HttpRequest) -> int | None:
    """Seconds this attempt must wait, or None when it may try the password."""
    user, address, pair = _budgets(request)
    address_wait = ratelimit.blocked(address.key, limit=address.limit, window=address.window)
    user_wait = ratelimit.blocked(user.key, limit=user.limit, window=user.window)
    if user_wait is not None and not ratelimit.count(pair.key, window=pair.window):
        user_wait = None  # the username is locked, but not against an address that never failed
    waits = [w for w in (address_wait, user_wait) if w is not None]
    return max(waits, default=None)


def blocked_message(wait: int) -> str:
    minutes = math.ceil(wait / 60)
    return ngettext(
        "Too many failed attempts. Try again in %(minutes)d minute.",
        "Too many failed attempts. Try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}


def throttle_login(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Wrap a login view whose form is one of the Throttled* forms below."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.method != "POST":
            return view(request, *args, **kwargs)
        wait = _wait(request)
        if wait is not None:
            setattr(request, BLOCKED_ATTRIBUTE, wait)
            response = view(request, *args, **kwargs)
            if hasattr(response, "render"):
                response.render()
            response.status_code = 429
            response["Retry-After"] = str(wait)
            return response
        response = view(request, *args, **kwargs)
        user, address, pair = _budgets(request)
        if request.user.is_authenticated:
            # A success forgets this username's failures; the address keeps its count.
            ratelimit.reset(user.key, window=user.window)
        else:
            for budget in (user, address, pair):
                ratelimit.hit(budget.key, limit=budget.limit, window=budget.window)
        return response

    return wrapper


class _RefuseWhenBlocked:
    """Refuses, before the password is checked, an attempt throttle_login blocked: the same
    answer whether the username exists or not, the right password included."""

    request: HttpRequest | None

    def clean(self) -> dict[str, Any]:
        wait = getattr(self.request, BLOCKED_ATTRIBUTE, None)
        if wait is not None:
            raise ValidationError(blocked_message(wait), code="throttled")
        return super().clean()  # type: ignore[misc]


class ThrottledAuthenticationForm(_RefuseWhenBlocked, AuthenticationForm):
    pass


class ThrottledAdminAuthenticationForm(_RefuseWhenBlocked, AdminAuthenticationForm):
    pass
