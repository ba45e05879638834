"""Websockets are accepted only from our own pages: the Origin's scheme, host and port must be
the ones the browser connected to (its Host header), with a host in ALLOWED_HOSTS.

Channels does no CSRF check on websockets, so this is the protection against another site's
page opening a socket with an agent's cookies. Channels' AllowedHostsOriginValidator compares
the host only, so any port on the same host (another program on 127.0.0.1:9999) passed.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

from hitlnext_project.shared.http import scope_header

DEFAULT_PORTS = {"http": 80, "https": 443}


def same_origin(origin: str, host_header: str) -> bool:
    try:
        parts = urlsplit(origin)
        origin_port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return False
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or origin_port is None:
        return False
    if settings.HTTPS and parts.scheme != "https":
        return False
    host, port = split_domain_port(host_header)
    if not host or not validate_host(host, settings.ALLOWED_HOSTS):
        return False
    host_port = int(port) if port else DEFAULT_PORTS[parts.scheme]
    return parts.hostname == host.strip("[]") and origin_port == host_port


class SameOriginValidator:
    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if same_origin(scope_header(scope, b"origin"), scope_header(scope, b"host")):
            await self.application(scope, receive, send)
        else:
            await WebsocketDenier()(scope, receive, send)
