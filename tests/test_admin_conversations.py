"""The ops console: bots (credentials shown once), deliveries (retry now), read-only records."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from conversations.keys import hash_api_key
from conversations.models import Bot
from tests.factories import BotFactory, ConversationFactory, MessageFactory, UserFactory
from webhooks.events import record_event
from webhooks.models import Delivery, Event

pytestmark = pytest.mark.django_db

KEY = re.compile(r"hk_[A-Za-z0-9_-]{20,}")
SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]{20,}")


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def hook_bot():
    return BotFactory(name="Hooked bot", webhook_url="https://bot.example.com/hooks")


def emit(bot, conversation=None) -> Event:
    with transaction.atomic():
        return record_event(
            bot=bot, type="message.created", data={"n": 1}, conversation=conversation
        )


# The outbox's models live in the webhooks app; the rest in conversations.
APP = {"delivery": "webhooks", "event": "webhooks"}


def admin_url(model: str, view: str) -> str:
    return f"admin:{APP.get(model, 'conversations')}_{model}_{view}"


def changelist(model: str) -> str:
    return reverse(admin_url(model, "changelist"))


def run_action(admin_client, model: str, action: str, pks: list[int]):
    return admin_client.post(
        changelist(model),
        {"action": action, "_selected_action": [str(pk) for pk in pks]},
        follow=True,
    )


def test_adding_a_bot_shows_its_api_key_and_secret_once(admin_client):
    response = admin_client.post(
        reverse("admin:conversations_bot_add"),
        {
            "name": "Support bot",
            "webhook_url": "https://bot.example.com/hooks",
            "webhook_enabled": "on",
            "default_language": "fr",
        },
        follow=True,
    )

    page = response.content.decode()
    bot = Bot.objects.get(name="Support bot")
    (key,) = KEY.findall(page)
    (secret,) = SECRET.findall(page)
    assert bot.api_key_hash == hash_api_key(key)
    assert bot.api_key_hint == key[:7]
    assert bot.webhook_secret == secret
    assert bot.default_language == "fr"

    for url in (changelist("bot"), reverse("admin:conversations_bot_change", args=[bot.pk])):
        again = admin_client.get(url).content.decode()
        assert key not in again and secret not in again
        assert not KEY.search(again) and not SECRET.search(again)


def test_the_bot_change_page_never_shows_the_credentials(admin_client, hook_bot):
    page = admin_client.get(
        reverse("admin:conversations_bot_change", args=[hook_bot.pk])
    ).content.decode()

    assert hook_bot.api_key not in page
    assert hook_bot.webhook_secret not in page
    assert hook_bot.webhook_secret.removeprefix("whsec_") not in page
    assert hook_bot.api_key_hint in page  # the hint identifies the key without revealing it


def test_rotating_the_api_key_shows_the_new_key_once_and_retires_the_old(admin_client, hook_bot):
    old_hash = hook_bot.api_key_hash

    response = run_action(admin_client, "bot", "rotate_api_key", [hook_bot.pk])

    (key,) = KEY.findall(response.content.decode())
    hook_bot.refresh_from_db()
    assert hook_bot.api_key_hash == hash_api_key(key) != old_hash
    assert key not in admin_client.get(changelist("bot")).content.decode()


def test_rotating_the_webhook_secret_shows_the_new_secret_once(admin_client, hook_bot):
    old = hook_bot.webhook_secret

    response = run_action(admin_client, "bot", "rotate_webhook_secret", [hook_bot.pk])

    (secret,) = SECRET.findall(response.content.decode())
    hook_bot.refresh_from_db()
    assert hook_bot.webhook_secret == secret != old
    change = reverse("admin:conversations_bot_change", args=[hook_bot.pk])
    assert secret not in admin_client.get(change).content.decode()


def test_an_admin_re_enables_a_disabled_endpoint(admin_client, hook_bot):
    Bot.objects.filter(pk=hook_bot.pk).update(webhook_enabled=False)  # after a 410

    response = admin_client.post(
        reverse("admin:conversations_bot_change", args=[hook_bot.pk]),
        {
            "name": hook_bot.name,
            "webhook_url": hook_bot.webhook_url,
            "webhook_enabled": "on",
            "default_language": "en",
        },
    )

    assert response.status_code == 302
    hook_bot.refresh_from_db()
    assert hook_bot.webhook_enabled is True
    assert hook_bot.api_key_hash and hook_bot.webhook_secret  # untouched by the form


def test_retry_now_queues_the_selected_deliveries_of_a_disabled_endpoint(admin_client, hook_bot):
    """Nothing can be sent to a disabled endpoint: the retried delivery waits for it (the
    attempt itself is tested in test_delivery_retry.py)."""
    Bot.objects.filter(pk=hook_bot.pk).update(webhook_enabled=False)
    failed, untouched = emit(hook_bot), emit(hook_bot)
    later = timezone.now() + timedelta(hours=3)
    Delivery.objects.update(status=Delivery.Status.FAILED, next_attempt_at=later)

    response = run_action(admin_client, "delivery", "retry_now", [failed.delivery.pk])

    assert response.status_code == 200
    page = response.content.decode()
    assert "1 delivery queued to be sent now by the worker" in page
    assert "is disabled: its deliveries wait" in page
    retried = Delivery.objects.get(event=failed)
    assert retried.status == Delivery.Status.PENDING
    assert retried.next_attempt_at <= timezone.now()
    assert Delivery.objects.get(event=untouched).status == Delivery.Status.FAILED


def test_deliveries_are_searchable_by_event_id_and_read_only(admin_client, hook_bot):
    wanted, other = emit(hook_bot), emit(hook_bot)

    response = admin_client.get(changelist("delivery"), {"q": wanted.public_id})

    assert list(response.context["cl"].result_list) == [wanted.delivery]
    assert admin_client.get(reverse("admin:webhooks_delivery_add")).status_code == 403
    change = reverse("admin:webhooks_delivery_change", args=[other.delivery.pk])
    assert admin_client.post(change, {"status": "delivered"}).status_code == 403
    assert Delivery.objects.get(event=other).status == Delivery.Status.PENDING


@pytest.mark.parametrize(
    "model", ["bot", "delivery", "event", "enduser", "conversation", "message"]
)
def test_every_changelist_and_detail_page_opens(admin_client, hook_bot, model):
    talk = ConversationFactory(bot=hook_bot)
    MessageFactory(conversation=talk)
    emit(hook_bot, talk)

    response = admin_client.get(changelist(model))

    assert response.status_code == 200
    obj = response.context["cl"].result_list[0]
    detail = admin_client.get(reverse(admin_url(model, "change"), args=[obj.pk]))
    assert detail.status_code == 200


@pytest.mark.parametrize("model", ["delivery", "event", "message", "conversation", "enduser"])
def test_changelist_queries_do_not_grow_with_rows(admin_client, hook_bot, model):
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(changelist(model)).status_code == 200
        return len(queries)

    talk = ConversationFactory(bot=hook_bot)
    MessageFactory(conversation=talk)
    emit(hook_bot, talk)
    few = count_queries()
    for _ in range(5):
        other = ConversationFactory(bot=BotFactory())
        MessageFactory(conversation=other)
        emit(other.bot, other)

    assert count_queries() == few
