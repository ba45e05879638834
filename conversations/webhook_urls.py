"""Where webhooks may go: URL validation, private-address refusal, and redaction.

A webhook URL is http(s) with a host and nothing odd in it. Credentials in it (userinfo, or
a token in the query string) are allowed, because many receivers authenticate that way, but
they never appear in logs or pages: `redact_url` masks them wherever a URL is shown.

With HITLNEXT_WEBHOOK_REFUSE_PRIVATE on, a URL whose host resolves to a loopback, private,
link-local or otherwise non-public address is refused when it is saved, and again at every
delivery attempt: the host is resolved once, every address is checked, and the request goes
to the checked address (`pin`), so DNS that changes its answer in between (rebinding) gains
nothing.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible

SCHEMES = ("http", "https")
MASK = "***"
# IPv6 ranges whose last 32 bits are an IPv4 address, judged by that address: the well-known
# NAT64 prefix (RFC 6052), IPv4-compatible (deprecated, RFC 4291) and IPv4-translated (SIIT).
_EMBEDDING_IPV4 = [
    ipaddress.ip_network("64:ff9b::/96"),
    ipaddress.ip_network("::/96"),
    ipaddress.ip_network("::ffff:0:0:0/96"),
]
# The local-use NAT64 prefix (RFC 8215) reaches whatever the local translator serves: never a
# public destination, whatever it embeds.
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")


class RefusedDestination(ValueError):
    """The URL is malformed, or (refusing private ranges) points inside the network."""


def check_syntax(url: str) -> SplitResult:
    """http(s), a host, no whitespace or control characters; returns the split URL."""
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise RefusedDestination("The URL must not contain spaces or control characters.")
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES:
        raise RefusedDestination("The URL must start with http:// or https://.")
    try:
        parts.port  # noqa: B018 -- raises on a port that is not a number in range
    except ValueError:
        raise RefusedDestination("The URL's port is not valid.") from None
    if not parts.hostname:
        raise RefusedDestination("The URL needs a host name.")
    return parts


def resolve(host: str, port: int) -> list[str]:
    """Every address the host resolves to, in the resolver's order (the DNS boundary)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_public(address: str) -> bool:
    """A globally routable unicast address; addresses embedding IPv4 are judged by it."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _LOCAL_NAT64:
            return False
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and any(ip in network for network in _EMBEDDING_IPV4):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public(str(embedded))
    return ip.is_global and not ip.is_multicast


def check_addresses(host: str, port: int) -> list[str]:
    """Resolve and refuse any non-public address; returns the (all public) addresses."""
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise RefusedDestination(f"The host {host} could not be resolved ({exc}).") from None
    if not addresses:
        raise RefusedDestination(f"The host {host} has no address.")
    for address in addresses:
        if not is_public(address):
            raise RefusedDestination(
                f"The host {host} resolves to {address}, a private or reserved address: "
                "webhooks to internal networks are refused (HITLNEXT_WEBHOOK_REFUSE_PRIVATE)."
            )
    return addresses


def _default_port(parts: SplitResult) -> int:
    return parts.port or (443 if parts.scheme.lower() == "https" else 80)


def _hostname(parts: SplitResult) -> str:
    assert parts.hostname, "check_syntax refuses a URL without a host"
    return parts.hostname


@deconstructible
class WebhookUrlValidator:
    """The model field's validator: runs in forms, the admin and create_bot (full_clean)."""

    def __call__(self, value: str) -> None:
        if not value:
            return
        try:
            parts = check_syntax(value)
            if settings.HITLNEXT_WEBHOOK_REFUSE_PRIVATE:
                check_addresses(_hostname(parts), _default_port(parts))
        except RefusedDestination as exc:
            raise ValidationError(str(exc), code="invalid_webhook_url") from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WebhookUrlValidator)


@dataclass(frozen=True)
class Target:
    """What one delivery attempt connects to."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, str] = field(default_factory=dict)


def pin(url: str) -> Target:
    """The request target for one attempt, re-checked now (not only when the URL was saved).

    Refusing private ranges, the request goes to the address just checked, with the original
    Host header and TLS server name (so certificates are still verified against the name).
    """
    parts = check_syntax(url)
    if not settings.HITLNEXT_WEBHOOK_REFUSE_PRIVATE:
        return Target(url=url)
    host = _hostname(parts)
    address = check_addresses(host, _default_port(parts))[0]
    netloc = f"[{address}]" if ":" in address else address
    if parts.port:
        netloc += f":{parts.port}"
    if "@" in parts.netloc:
        netloc = parts.netloc.rpartition("@")[0] + "@" + netloc
    host_header = parts.netloc.rpartition("@")[2]
    return Target(
        url=urlunsplit(parts._replace(netloc=netloc)),
        headers={"host": host_header},
        extensions={"sni_hostname": host},
    )


def redact_url(url: str) -> str:
    """The URL fit to show or log: userinfo and query string (both may carry credentials)
    masked, fragment dropped."""
    if not url:
        return url
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    return urlunsplit(parts._replace(netloc=netloc, query=MASK if parts.query else "", fragment=""))


def unredact_url(url: str, *, previous: str) -> str:
    """A URL edited from its redacted form: masked parts take the previous URL's values."""
    if not url or not previous or MASK not in url:
        return url
    parts, old = urlsplit(url), urlsplit(previous)
    netloc = parts.netloc
    if netloc.startswith(f"{MASK}@") and "@" in old.netloc:
        netloc = old.netloc.rpartition("@")[0] + "@" + netloc.partition("@")[2]
    query = old.query if parts.query == MASK else parts.query
    return urlunsplit(parts._replace(netloc=netloc, query=query))
