"""Encryption at rest for secrets we must be able to read back (webhook signing secrets).

API keys only need checking, so they are hashed (conversations.keys); a webhook secret signs
every delivery, so it is stored encrypted (Fernet: AES-128-CBC + HMAC-SHA256) and decrypted
when the attribute is first read (not on every load: most loads never need it).

Keys (any strings; each is stretched with HKDF-SHA256 into a Fernet key):
- encrypting: HITLNEXT_ENCRYPTION_KEY, or SECRET_KEY when it is not set;
- decrypting: that key, then HITLNEXT_ENCRYPTION_KEY_FALLBACKS, SECRET_KEY and
  SECRET_KEY_FALLBACKS. So rotating SECRET_KEY the Django way (the old value moved to
  SECRET_KEY_FALLBACKS) keeps secrets readable; `manage.py reencrypt_secrets` then rewrites
  them under the current key, after which the old keys may go.

A stored secret that no configured key opens loads as an `UnreadableSecret`: the bot still
works for the API; its deliveries fail (recorded, retried) until the secret is rotated.
"""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import models
from django.db.models.query_utils import DeferredAttribute

_INFO = b"hitlnext:webhook-secrets:v1"


class UnreadableSecret(str):
    """The stored token, when no configured key decrypts it; saved back unchanged."""


class SecretUnreadable(ValueError):
    def __init__(self) -> None:
        super().__init__(
            "The webhook secret cannot be decrypted with the configured keys "
            "(was HITLNEXT_ENCRYPTION_KEY or SECRET_KEY changed without a fallback?): "
            "restore the old key as a fallback, or rotate the bot's webhook secret."
        )


def _fernet_key(material: str) -> bytes:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        material.encode()
    )
    return base64.urlsafe_b64encode(derived)


@functools.lru_cache(maxsize=8)
def _fernet(materials: tuple[str, ...]) -> MultiFernet:
    # Cached per key set (HKDF per call would be wasted work); tests that change the
    # settings simply get another entry.
    return MultiFernet([Fernet(_fernet_key(m)) for m in materials])


def _configured() -> MultiFernet:
    primary = settings.HITLNEXT_ENCRYPTION_KEY or settings.SECRET_KEY
    materials = [
        primary,
        *settings.HITLNEXT_ENCRYPTION_KEY_FALLBACKS,
        settings.SECRET_KEY,
        *getattr(settings, "SECRET_KEY_FALLBACKS", ()),
    ]
    return _fernet(tuple(dict.fromkeys(m for m in materials if m)))


def encrypt(plaintext: str) -> str:
    return _configured().encrypt(plaintext.encode()).decode("ascii")


def decrypt(token: str) -> str:
    """The plaintext; raises SecretUnreadable when no configured key opens the token."""
    try:
        return _configured().decrypt(token.encode("ascii")).decode()
    except (InvalidToken, UnicodeError):
        raise SecretUnreadable() from None


class _Sealed(str):
    """A token as loaded, not yet decrypted: the attribute opens it on first read."""


def _open(token: str) -> str:
    try:
        return decrypt(token)
    except SecretUnreadable:
        return UnreadableSecret(token)


class _DecryptOnRead(DeferredAttribute):
    """Decrypts the loaded token the first time the attribute is read, not when the row is
    loaded: a bot is loaded by every API call and many joins, its secret only read to sign a
    delivery. A data descriptor (it has __set__), so every read passes through it."""

    def __get__(self, instance, cls=None):
        if instance is None:
            return self
        value = super().__get__(instance, cls)
        if isinstance(value, _Sealed):
            value = instance.__dict__[self.field.attname] = _open(value)
        return value

    def __set__(self, instance, value) -> None:
        instance.__dict__[self.field.attname] = value


class EncryptedSecretField(models.CharField):
    """A CharField holding plaintext in Python and a Fernet token in the database.

    Tokens are randomised, so the column cannot be filtered on; nothing needs to. The token is
    decrypted when the model's attribute is first read; values() and values_list() give the
    stored token as it is (nothing reads secrets that way).
    """

    descriptor_class = _DecryptOnRead

    def from_db_value(self, value, expression, connection):
        if not value:
            return value
        return _Sealed(value)

    def get_db_prep_save(self, value, connection):
        if isinstance(value, UnreadableSecret):
            return str(value)  # unchanged: a later key fix can still open it
        if value:
            value = encrypt(str(value))
        return super().get_db_prep_save(value, connection)
