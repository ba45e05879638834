"""Webhook secrets are encrypted at rest, signing still works, and key rotation keeps them
readable when the old key is kept as a fallback."""

from __future__ import annotations

import importlib
import json
from io import StringIO
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection, transaction
from django.test import override_settings

from conversations import crypto
from conversations.models import Bot
from tests.factories import BotFactory
from tests.webhooks import WebhookReceiver, verify
from webhooks.delivery import deliver_due
from webhooks.events import record_event
from webhooks.models import Delivery

pytestmark = pytest.mark.django_db

KEY_A = "first-encryption-key-0123456789-abcdefghijklmnopqrstuvwxyz"
KEY_B = "second-encryption-key-0123456789-abcdefghijklmnopqrstuvwxyz"

# The data step only uses the editor's connection (a real schema editor refuses to open
# inside the test's transaction on SQLite).
EDITOR = SimpleNamespace(connection=connection)
migration = importlib.import_module("conversations.migrations.0005_encrypt_webhook_secrets")


def stored_secret(bot: Bot) -> str:
    """The column as the database holds it, past the field's decryption."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT webhook_secret FROM {Bot._meta.db_table} WHERE id = %s", [bot.pk])
        return cursor.fetchone()[0]


def set_stored_secret(bot: Bot, value: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Bot._meta.db_table} SET webhook_secret = %s WHERE id = %s", [value, bot.pk]
        )


def create_bot(name: str, url: str = "") -> dict:
    out = StringIO()
    args = ["create_bot", name] + (["--webhook-url", url] if url else [])
    call_command(*args, stdout=out)
    return json.loads(out.getvalue())


def emit(bot):
    with transaction.atomic():
        return record_event(bot=bot, type="message.created", data={"n": 1})


def test_the_database_never_holds_the_plaintext_secret():
    line = create_bot("Acme bot")
    bot = Bot.objects.get(pk=line["id"])
    secret = line["webhook_secret"]

    raw = stored_secret(bot)
    assert secret not in raw and secret.removeprefix("whsec_") not in raw
    assert "whsec_" not in raw
    assert bot.webhook_secret == secret


def test_two_bots_with_one_key_have_unrelated_ciphertexts():
    first, second = BotFactory(), BotFactory()
    set_secret = "whsec_" + "A" * 44
    for bot in (first, second):
        bot.webhook_secret = set_secret
        bot.save(update_fields=["webhook_secret"])

    assert stored_secret(first) != stored_secret(second)  # randomised: nothing to compare


def test_deliveries_are_signed_with_the_decrypted_secret():
    with WebhookReceiver() as receiver:
        line = create_bot("Hooked bot", receiver.url)
        emit(Bot.objects.get(pk=line["id"]))

        assert deliver_due() == 1

    (request,) = receiver.received
    assert verify(secret=line["webhook_secret"], headers=request.headers, body=request.body)


def test_a_rotated_key_still_decrypts_with_the_old_key_as_fallback():
    with override_settings(HITLNEXT_ENCRYPTION_KEY=KEY_A):
        bot = BotFactory()
        secret = bot.webhook_secret
        under_a = stored_secret(bot)

    with override_settings(
        HITLNEXT_ENCRYPTION_KEY=KEY_B, HITLNEXT_ENCRYPTION_KEY_FALLBACKS=[KEY_A]
    ):
        assert Bot.objects.get(pk=bot.pk).webhook_secret == secret
        out = StringIO()
        call_command("reencrypt_secrets", stdout=out)
        assert "re-encrypted" in out.getvalue()

    assert stored_secret(bot) != under_a
    with override_settings(HITLNEXT_ENCRYPTION_KEY=KEY_B, HITLNEXT_ENCRYPTION_KEY_FALLBACKS=[]):
        assert Bot.objects.get(pk=bot.pk).webhook_secret == secret  # now under B alone


def test_rotating_secret_key_the_django_way_keeps_secrets_readable(settings):
    settings.HITLNEXT_ENCRYPTION_KEY = ""
    settings.SECRET_KEY = "old-" + KEY_A
    bot = BotFactory()
    secret = bot.webhook_secret

    settings.SECRET_KEY = "new-" + KEY_B
    settings.SECRET_KEY_FALLBACKS = ["old-" + KEY_A]

    assert Bot.objects.get(pk=bot.pk).webhook_secret == secret


def test_a_secret_no_key_opens_fails_deliveries_visibly_and_is_kept_unchanged():
    with override_settings(HITLNEXT_ENCRYPTION_KEY=KEY_A):
        with WebhookReceiver() as receiver:
            bot = BotFactory(webhook_url=receiver.url)
            event = emit(bot)
        token = stored_secret(bot)

    with override_settings(HITLNEXT_ENCRYPTION_KEY=KEY_B), WebhookReceiver() as receiver:
        Bot.objects.filter(pk=bot.pk).update(webhook_url=receiver.url)
        loaded = Bot.objects.get(pk=bot.pk)
        assert isinstance(loaded.webhook_secret, crypto.UnreadableSecret)

        assert deliver_due() == 1

        # Never signed with a wrong key; a recorded, retried failure instead.
        assert receiver.received == []
        delivery = Delivery.objects.get(event=event)
        assert delivery.status == Delivery.Status.PENDING
        assert "cannot be decrypted" in delivery.last_error
        assert token not in delivery.last_error

        loaded.name = "Renamed"
        loaded.save()
        assert stored_secret(bot) == token  # a later fix of the keys can still open it


def test_the_migration_encrypts_existing_plaintext_secrets_and_reverses():
    bot = BotFactory()
    secret = bot.webhook_secret
    set_stored_secret(bot, secret)  # as 0004 left it

    migration.encrypt_plaintext(apps, EDITOR)

    assert stored_secret(bot) != secret
    assert Bot.objects.get(pk=bot.pk).webhook_secret == secret

    migration.decrypt_to_plaintext(apps, EDITOR)

    assert stored_secret(bot) == secret


def test_loading_a_bot_decrypts_nothing_until_the_secret_is_read(monkeypatch):
    # Every API call and many joins load the bot; only signing reads its secret.
    bot = BotFactory(name="Lazy")
    secret = bot.webhook_secret
    opened = []
    real = crypto.decrypt
    monkeypatch.setattr(crypto, "decrypt", lambda token: opened.append(token) or real(token))

    loaded = Bot.objects.get(pk=bot.pk)
    assert loaded.name == "Lazy"
    assert opened == []
    assert loaded.webhook_secret == secret
    assert loaded.webhook_secret == secret
    assert len(opened) == 1  # once per loaded row
    loaded.save()  # a save of a loaded row keeps the secret readable
    assert Bot.objects.get(pk=bot.pk).webhook_secret == secret
    assert stored_secret(bot) != secret


def test_saving_an_unread_secret_keeps_it():
    bot = BotFactory(name="Untouched")
    secret = bot.webhook_secret
    loaded = Bot.objects.get(pk=bot.pk)
    loaded.name = "Renamed"
    loaded.save()
    assert Bot.objects.get(pk=bot.pk).webhook_secret == secret
