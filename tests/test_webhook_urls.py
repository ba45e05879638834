"""Webhook URLs: validated where they are saved, credentials never shown back, and (opt-in)
private destinations refused when saved and again at every delivery."""

from __future__ import annotations

import json
import logging
from io import StringIO

import httpx
import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import override_settings
from django.urls import reverse

from conversations import webhook_urls
from conversations.models import Bot
from conversations.webhook_urls import is_public, pin, redact_url, unredact_url
from tests.factories import BotFactory, UserFactory
from tests.webhooks import WebhookReceiver, verify
from webhooks import delivery as delivery_module
from webhooks.delivery import deliver_due
from webhooks.events import record_event
from webhooks.models import Delivery, Event

pytestmark = pytest.mark.django_db

refuse_private = override_settings(HITLNEXT_WEBHOOK_REFUSE_PRIVATE=True)


@pytest.fixture
def receiver():
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def emit(bot) -> Event:
    with transaction.atomic():
        return record_event(bot=bot, type="message.created", data={"n": 1})


def fake_dns(monkeypatch, answers: dict[str, list[str]]) -> list[str]:
    """Replace the DNS boundary; returns the log of names looked up."""
    looked_up: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        looked_up.append(host)
        answer = answers[host]
        return answer.pop(0) if isinstance(answer[0], list) else answer

    monkeypatch.setattr(webhook_urls, "resolve", resolve)
    return looked_up


def validation_messages(url: str) -> list[str]:
    bot = BotFactory.build(name="Checked bot", webhook_url=url)
    bot.set_new_api_key()
    bot.set_new_webhook_secret()
    with pytest.raises(ValidationError) as caught:
        bot.full_clean()
    return caught.value.message_dict["webhook_url"]


# --- Syntax: always ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://bot.example.com/hooks",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "https:///hooks",
        "https://bot.example.com/ho oks",
        "https://bot.example.com/hooks\n",
        "https://bot.example.com:99999/hooks",
    ],
)
def test_a_webhook_url_must_be_http_or_https_with_a_host_and_no_whitespace(url):
    assert validation_messages(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://bot.example.com/hooks",
        "http://127.0.0.1:8080/hooks",
        "https://user:p%40ss@bot.example.com/hooks?token=abc",
    ],
)
def test_ordinary_urls_and_urls_with_credentials_are_accepted(url):
    bot = BotFactory.build(name="Fine bot", webhook_url=url)
    bot.set_new_api_key()
    bot.set_new_webhook_secret()

    bot.full_clean()


def test_create_bot_refuses_a_bad_url_and_saves_nothing():
    with pytest.raises(CommandError, match="http:// or https://"):
        call_command("create_bot", "Bad bot", "--webhook-url", "ftp://bot.example.com/x")

    assert not Bot.objects.filter(name="Bad bot").exists()


def test_the_admin_refuses_a_bad_url(admin_client):
    response = admin_client.post(
        reverse("admin:conversations_bot_add"),
        {"name": "Bad bot", "webhook_url": "ftp://bot.example.com/x", "default_language": "en"},
    )

    assert response.status_code == 200
    assert "http:// or https://" in response.content.decode()
    assert not Bot.objects.filter(name="Bad bot").exists()


# --- Credentials are kept, never shown back ---------------------------------------------------

URL = "https://hook-user:hunter2-pass@bot.example.com/hooks?token=s3cr3t-token"


def test_redacted_urls_mask_userinfo_and_query_and_round_trip():
    assert redact_url(URL) == "https://***@bot.example.com/hooks?***"
    assert redact_url("https://bot.example.com/hooks") == "https://bot.example.com/hooks"
    assert unredact_url(redact_url(URL), previous=URL) == URL
    moved = "https://***@new.example.com/v2?***"
    assert unredact_url(moved, previous=URL) == (
        "https://hook-user:hunter2-pass@new.example.com/v2?token=s3cr3t-token"
    )


def test_the_admin_never_shows_url_credentials_and_editing_keeps_them(admin_client):
    bot = BotFactory(name="Hooked bot", webhook_url=URL)
    change = reverse("admin:conversations_bot_change", args=[bot.pk])

    for page in (
        admin_client.get(reverse("admin:conversations_bot_changelist")),
        admin_client.get(change),
    ):
        text = page.content.decode()
        assert "bot.example.com/hooks" in text
        assert "hunter2-pass" not in text and "s3cr3t-token" not in text and "hook-user" not in text

    response = admin_client.post(
        change,
        {
            "name": "Renamed bot",
            "webhook_url": "https://***@bot.example.com/hooks?***",
            "webhook_enabled": "on",
            "default_language": "en",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    bot.refresh_from_db()
    assert bot.name == "Renamed bot"
    assert bot.webhook_url == URL


# --- Private destinations (opt-in) ----------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hooks",
        "http://localhost/hooks",
        "http://[::1]/hooks",
        "http://10.1.2.3/hooks",
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:127.0.0.1]/hooks",
        "http://0.0.0.0/hooks",
    ],
)
def test_refusing_private_ranges_refuses_such_urls_when_saved(url):
    with refuse_private:
        (message,) = [m for m in validation_messages(url) if "private" in m]

    assert "HITLNEXT_WEBHOOK_REFUSE_PRIVATE" in message


def test_private_urls_are_allowed_by_default():
    bot = BotFactory.build(name="Local bot", webhook_url="http://localhost:9000/hooks")
    bot.set_new_api_key()
    bot.set_new_webhook_secret()

    bot.full_clean()


def test_a_public_name_is_accepted_when_refusing_private_ranges(monkeypatch):
    fake_dns(monkeypatch, {"bot.example.com": ["93.184.215.14", "2606:2800:21f:cb07::1"]})
    bot = BotFactory.build(name="Public bot", webhook_url="https://bot.example.com/hooks")
    bot.set_new_api_key()
    bot.set_new_webhook_secret()

    with refuse_private:
        bot.full_clean()


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
        ("127.0.0.1", False),
        ("192.168.1.10", False),
        ("172.16.0.1", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("224.0.0.1", False),  # multicast
        ("fe80::1%eth0", False),
        ("fc00::1", False),
        ("::ffff:10.0.0.1", False),
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
        ("2002:7f00:1::1", False),  # 6to4 of 127.0.0.1
    ],
)
def test_which_addresses_count_as_public(address, public):
    assert is_public(address) is public


def test_a_delivery_to_a_private_address_is_a_recorded_failure_then_retried(receiver, caplog):
    bot = BotFactory(webhook_url=receiver.url)  # saved while private ranges were allowed
    event = emit(bot)

    with refuse_private, caplog.at_level(logging.INFO):
        assert deliver_due() == 1

    delivery = Delivery.objects.get(event=event)
    assert receiver.received == []
    assert delivery.status == Delivery.Status.PENDING
    assert delivery.attempts == 1
    assert delivery.last_error.startswith("Refused: The host 127.0.0.1 resolves to 127.0.0.1")
    assert delivery.next_attempt_at > delivery.last_attempt_at
    assert "Refused" in caplog.text

    # Allowed again: the same event goes out on the next try, not lost.
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.last_attempt_at)
    assert deliver_due() == 1
    assert receiver.ids() == [event.public_id]
    assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.DELIVERED


def test_a_name_that_turns_private_after_it_was_saved_is_refused_at_delivery(monkeypatch, receiver):
    # DNS rebinding: public when checked at save time, loopback when the worker sends.
    port = receiver.server.server_address[1]
    looked_up = fake_dns(monkeypatch, {"hooks.example.com": [["93.184.215.14"], ["127.0.0.1"]]})
    with refuse_private:
        bot = BotFactory.build(
            name="Rebinding bot", webhook_url=f"http://hooks.example.com:{port}/"
        )
        bot.set_new_api_key()
        bot.set_new_webhook_secret()
        bot.full_clean()
        bot.save()
        event = emit(bot)

        assert deliver_due() == 1

    assert looked_up == ["hooks.example.com", "hooks.example.com"]
    assert receiver.received == []
    assert "resolves to 127.0.0.1" in Delivery.objects.get(event=event).last_error


def test_a_delivery_goes_to_the_address_that_was_checked(monkeypatch):
    """One lookup per attempt, and the connection uses its answer: the name is only the Host
    header and the TLS server name (so the certificate is still checked against it)."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(204)

    monkeypatch.setattr(delivery_module, "_transport", httpx.MockTransport(handler))
    looked_up = fake_dns(monkeypatch, {"bot.example.com": ["93.184.215.14"]})
    bot = BotFactory(webhook_url="https://u:pw@bot.example.com:8443/hooks?t=1")
    event = emit(bot)

    with refuse_private:
        assert deliver_due() == 1

    (request,) = sent
    assert looked_up == ["bot.example.com"]
    assert str(request.url) == "https://u:pw@93.184.215.14:8443/hooks?t=1"
    assert request.headers["host"] == "bot.example.com:8443"
    assert request.extensions["sni_hostname"] == "bot.example.com"
    assert verify(secret=bot.webhook_secret, headers=dict(request.headers), body=request.content)
    assert Delivery.objects.get(event=event).status == Delivery.Status.DELIVERED


def test_pinning_brackets_ipv6_addresses(monkeypatch):
    fake_dns(monkeypatch, {"bot.example.com": ["2606:2800:21f:cb07::1"]})

    with refuse_private:
        target = pin("https://bot.example.com/hooks")

    assert target.url == "https://[2606:2800:21f:cb07::1]/hooks"
    assert target.headers == {"host": "bot.example.com"}


def test_create_bot_output_is_one_json_line_without_the_url():
    out = StringIO()

    call_command("create_bot", "Quiet bot", "--webhook-url", URL, stdout=out)

    line = json.loads(out.getvalue())
    assert set(line) == {"id", "name", "api_key", "webhook_secret"}
    assert "hunter2-pass" not in out.getvalue()
