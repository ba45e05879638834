"""Bot credentials: API keys are stored hashed, webhook secrets follow Standard Webhooks (and
are stored encrypted, see conversations.crypto)."""

from __future__ import annotations

import base64
import hashlib
import secrets

from conversations.crypto import SecretUnreadable, UnreadableSecret

API_KEY_PREFIX = "hk_"


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    # The key is 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def webhook_secret_bytes(secret: str) -> bytes:
    if isinstance(secret, UnreadableSecret):
        raise SecretUnreadable()  # never sign with the ciphertext as if it were the key
    return base64.b64decode(secret.removeprefix("whsec_"))
