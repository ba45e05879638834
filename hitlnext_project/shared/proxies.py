"""Who the client is behind a reverse proxy: X-Forwarded-For and X-Forwarded-Proto are believed
only from the proxies named in HITLNEXT_TRUSTED_PROXIES (none by default).

A client can send any X-Forwarded-For it likes; a proxy appends the address it saw. So the
chain is read from the right, skipping our own proxies, and the first address that is not one
of them is the client: whatever a client wrote to the left of it is ignored. Per-address limits
(logins, the web chat) count that address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# A peer on a unix socket has no address; trusting it is spelt "unix".
UNIX = "unix"


def parse_trusted_proxies(entries: Iterable[str]) -> tuple[list[Network], bool]:
    """(networks, whether a unix-socket peer is trusted); ValueError names a bad entry."""
    networks: list[Network] = []
    unix = False
    for entry in entries:
        if entry == UNIX:
            unix = True
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an address, a network or 'unix'") from None
    return networks, unix


def is_trusted(peer: str | None) -> bool:
    networks, unix = settings.HITLNEXT_TRUSTED_PROXIES
    if not peer:
        return unix
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in network for network in networks)


def client_address(peer: str | None, forwarded_for: str) -> str:
    """The client's address: the peer itself unless it is a trusted proxy."""
    if not is_trusted(peer):
        return peer or ""
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer or ""  # garbage where an address should be: not believed
    return hops[0] if hops else peer or ""


class TrustedProxyMiddleware:
    """First in MIDDLEWARE: REMOTE_ADDR becomes the client's address, and X-Forwarded-Proto
    (which SECURE_PROXY_SSL_HEADER makes Django believe) is dropped unless a trusted proxy
    sent it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        peer = request.META.get("REMOTE_ADDR", "")
        if is_trusted(peer):
            forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
            request.META["REMOTE_ADDR"] = client_address(peer, forwarded)
        else:
            request.META.pop("HTTP_X_FORWARDED_PROTO", None)
        return self.get_response(request)


ASGIApp = Callable[
    [dict[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


class TrustedProxyASGIMiddleware:
    """The same for websockets, which Django's middleware never sees: scope["client"] becomes
    the client's address."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        peer = scope["client"][0] if scope.get("client") else None
        if is_trusted(peer):
            forwarded = ",".join(
                value.decode("latin-1")
                for name, value in scope.get("headers", [])
                if name == b"x-forwarded-for"
            )
            port = scope["client"][1] if scope.get("client") else 0
            scope = dict(scope, client=(client_address(peer, forwarded), port))
        await self.app(scope, receive, send)
