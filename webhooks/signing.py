"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

A receiver recomputes HMAC-SHA256 over "{webhook-id}.{webhook-timestamp}.{raw body}" with the
base64-decoded part of its `whsec_…` secret and compares it with `webhook-signature`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

from django.core.serializers.json import DjangoJSONEncoder

from conversations.keys import webhook_secret_bytes
from webhooks.models import Event

USER_AGENT = "hitlnext-webhooks"


def event_body(event: Event) -> bytes:
    """The compact JSON body; these exact bytes are both signed and sent."""
    text = json.dumps(
        event.as_payload(), separators=(",", ":"), ensure_ascii=False, cls=DjangoJSONEncoder
    )
    return text.encode("utf-8")


def signature(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(webhook_secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_request(
    *, event: Event, secret: str, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """Body and headers of one delivery attempt.

    The id is the event's public id, so it is the same on every retry and receivers can
    de-duplicate; the timestamp is this attempt's, so receivers can refuse stale replays.
    """
    body = event_body(event)
    timestamp = int(time.time()) if timestamp is None else timestamp
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": event.public_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(
            secret=secret, msg_id=event.public_id, timestamp=timestamp, body=body
        ),
    }
    return body, headers
