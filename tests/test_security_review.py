"""The outside security review's findings, one test (or a few) each; every one failed before
its fix. Numbers are the review's."""

from __future__ import annotations

import io
import os
import re
import secrets
import stat
import subprocess
import sys

import httpx
import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.test import Client

from hitlnext_project.asgi import application
from hitlnext_project.shared.proxies import client_address, parse_trusted_proxies
from tests.api_support import BotApi
from tests.workers import BASE_DIR, free_port, manage, start_command, stop, wait_for

PASSWORD = "correct-horse-battery"


@pytest.fixture
def fast_logins(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.HITLNEXT_LOGIN_FAILURES_PER_USERNAME = (5, 900)
    settings.HITLNEXT_LOGIN_FAILURES_PER_IP = (10, 900)
    cache.clear()
    yield
    cache.clear()


# --- 5. X-Forwarded-For is believed only from configured proxies ----------------------------


def test_a_client_cannot_spread_login_failures_over_forged_forwarded_addresses(
    agent, fast_logins, settings
):
    settings.HITLNEXT_TRUSTED_PROXIES = parse_trusted_proxies([])
    client = Client(REMOTE_ADDR="203.0.113.9")
    for n in range(10):
        client.post(
            "/login/",
            {"username": f"user{n}", "password": "wrong"},
            headers={"X-Forwarded-For": f"198.51.100.{n}"},
        )

    refused = client.post(
        "/login/",
        {"username": "someone", "password": "wrong"},
        headers={"X-Forwarded-For": "198.51.100.200"},
    )

    assert refused.status_code == 429  # the ten failures all counted against 203.0.113.9


def test_behind_the_proxy_forged_forwarded_addresses_still_count_against_the_real_client(
    tmp_path,
):
    """The server itself (Daphne via `serve`, HTTPS on) behind a proxy on 127.0.0.1 that
    appends the address it saw, as deploy/nginx.conf does: the client's own X-Forwarded-For
    entries, different on every attempt, must not give it a fresh budget each time."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}} | {
        "HITLNEXT_VAR_DIR": str(tmp_path),
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "HTTPS": "true",
        "HITLNEXT_TRUSTED_PROXIES": "127.0.0.1",
        "HITLNEXT_LOGIN_FAILURES_PER_IP": "5/15m",
        "LOG_LEVEL": "WARNING",
    }
    manage(env, "migrate", "--no-input", "-v", "0")
    server = start_command(env, "serve", "--no-worker", "--port", str(port))
    origin = f"https://127.0.0.1:{port}"
    statuses = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:

            def up() -> bool:
                try:
                    return client.get("/healthz").status_code == 200
                except httpx.HTTPError:
                    return False

            wait_for(up, what="the server to answer")
            for n in range(7):
                proxied = {
                    "X-Forwarded-Proto": "https",
                    "X-Forwarded-For": f"198.51.100.{n}, 203.0.113.9",  # forged, then real
                }
                page = client.get("/login/", headers=proxied)
                token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
                assert token, page.text[:500]
                answer = client.post(
                    "/login/",
                    data={
                        "username": f"user{n}",
                        "password": "wrong",
                        "csrfmiddlewaretoken": token.group(1),
                    },
                    headers=proxied
                    | {
                        "Origin": origin,
                        "Referer": origin + "/login/",
                        # Secure cookies: httpx keeps them off plain HTTP, the proxy would not.
                        "Cookie": f"csrftoken={page.cookies['csrftoken']}",
                    },
                )
                statuses.append(answer.status_code)
    finally:
        stop(server)

    assert statuses[:5] == [200] * 5
    assert statuses[5:] == [429, 429]


def test_behind_a_trusted_proxy_the_client_is_the_rightmost_untrusted_address(settings):
    settings.HITLNEXT_TRUSTED_PROXIES = parse_trusted_proxies(["127.0.0.1", "10.0.0.0/8"])

    # The client wrote "1.1.1.1" itself; our proxies appended what they saw.
    assert client_address("127.0.0.1", "1.1.1.1, 203.0.113.7, 10.1.2.3") == "203.0.113.7"
    assert client_address("203.0.113.50", "1.1.1.1") == "203.0.113.50"  # not a proxy of ours
    assert client_address("127.0.0.1", "") == "127.0.0.1"
    assert client_address("127.0.0.1", "not-an-address") == "127.0.0.1"


def test_x_forwarded_proto_from_an_untrusted_peer_does_not_make_a_request_secure(settings):
    settings.HITLNEXT_TRUSTED_PROXIES = parse_trusted_proxies([])
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True

    untrusted = Client(REMOTE_ADDR="203.0.113.9").get(
        "/login/", headers={"X-Forwarded-Proto": "https"}
    )
    settings.HITLNEXT_TRUSTED_PROXIES = parse_trusted_proxies(["127.0.0.1"])
    trusted = Client(REMOTE_ADDR="127.0.0.1").get("/login/", headers={"X-Forwarded-Proto": "https"})

    assert untrusted.status_code == 301  # still plain HTTP: redirected to HTTPS
    assert trusted.status_code == 200


# --- 11. The websocket Origin check compares scheme, host and port --------------------------


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("origin", "host", "accepted"),
    [
        (b"http://localhost:8000", b"localhost:8000", True),
        (b"http://localhost:9999", b"localhost:8000", False),  # another program on the host
        (b"http://localhost", b"localhost:8000", False),
        (b"https://localhost:8000", b"localhost:8000", True),
        (b"http://evil.example:8000", b"evil.example:8000", False),  # not in ALLOWED_HOSTS
    ],
)
async def test_a_socket_is_accepted_only_from_our_own_origin(origin, host, accepted):
    communicator = WebsocketCommunicator(
        application, "/ws/chat/", headers=[(b"origin", origin), (b"host", host)]
    )
    connected, code = await communicator.connect()

    # Refused by the origin check: denied with 1000. A valid origin reaches the consumer,
    # which refuses a socket with no visitor identity with its own 4403.
    assert not connected
    assert (code == 4403) is accepted


# --- 10 and 13. No known key in development; var/ and the database are owner-only ----------


def _embedded_env(var_dir) -> dict[str, str]:
    drop = {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG"}
    return {k: v for k, v in os.environ.items() if k not in drop} | {
        "HITLNEXT_VAR_DIR": str(var_dir),
        "DJANGO_SETTINGS_MODULE": "hitlnext_project.settings",
    }


def _secret_key(env: dict[str, str]) -> str:
    code = (
        "import django; django.setup(); "
        "from django.conf import settings; print(settings.SECRET_KEY)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_without_secret_key_development_makes_a_random_key_and_keeps_it(tmp_path):
    env = _embedded_env(tmp_path / "var")

    first, again = _secret_key(env), _secret_key(env)
    elsewhere = _secret_key(_embedded_env(tmp_path / "other-var"))

    assert first == again  # kept: sessions and encrypted secrets survive a restart
    assert first != elsewhere  # random per install, never a constant shipped in the code
    assert len(first) >= 50
    assert "insecure" not in first
    assert stat.S_IMODE((tmp_path / "var" / "secret_key").stat().st_mode) == 0o600


def test_the_embedded_database_and_its_folder_are_owner_only(tmp_path):
    env = _embedded_env(tmp_path / "var")

    manage(env, "migrate", "--no-input", "-v", "0")

    assert stat.S_IMODE((tmp_path / "var").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "var" / "hitlnext.sqlite3").stat().st_mode) == 0o600


# --- 12. create_agent asks for the password and applies the validators ---------------------


@pytest.mark.django_db
def test_create_agent_reads_the_password_from_stdin(monkeypatch, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-passphrase-42\n"))

    call_command("create_agent", "dana", stdout=io.StringIO())

    assert Client().login(username="dana", password="a-long-passphrase-42")


@pytest.mark.django_db
@pytest.mark.parametrize("weak", ["1", "password", "dana"])
def test_create_agent_refuses_a_weak_password(weak):
    with pytest.raises(CommandError, match="Password refused"):
        call_command("create_agent", "dana", "--password", weak, stdout=io.StringIO())

    assert not get_user_model().objects.filter(username="dana").exists()


# --- 1. Every login form is throttled; bots never learn an administrator's username --------


@pytest.mark.django_db
def test_the_admin_login_is_throttled_like_the_agents_login(fast_logins):
    admin_user = get_user_model().objects.create_superuser("admin", password=PASSWORD)
    client = Client(REMOTE_ADDR="203.0.113.9")
    answers = [
        client.post("/admin/login/", {"username": "admin", "password": f"guess{n}"})
        for n in range(5)
    ]

    refused = client.post("/admin/login/", {"username": "admin", "password": PASSWORD})

    assert [a.status_code for a in answers] == [200] * 5
    assert refused.status_code == 429
    assert "Too many failed attempts" in refused.content.decode()
    assert int(refused["Retry-After"]) > 0
    assert "_auth_user_id" not in client.session
    assert admin_user.pk  # the right password was refused: the budget, not the password


@pytest.mark.django_db
def test_the_agents_listing_shows_agents_but_no_administrator(bot, agent, offline_agent):
    get_user_model().objects.create_superuser("root", password=PASSWORD)

    response = BotApi(Client(), bot.api_key).get("/agents")

    listed = [row["username"] for row in response.json()["agents"]]
    assert listed == ["alice", "carol"]  # the superuser "root" is not an agent


# --- 6. Five wrong passwords typed by someone else do not lock the agent out -----------------


def _login(username: str, password: str, address: str):
    return Client(REMOTE_ADDR=address).post("/login/", {"username": username, "password": password})


@pytest.mark.django_db
def test_a_locked_username_still_logs_in_from_an_address_that_never_failed(agent, fast_logins):
    agent.set_password(PASSWORD)
    agent.save()
    for n in range(5):
        assert _login("alice", f"guess{n}", "198.51.100.66").status_code == 200

    attacker = _login("alice", PASSWORD, "198.51.100.66")
    alice = _login("alice", PASSWORD, "203.0.113.10")

    assert attacker.status_code == 429  # the address that failed stays locked out
    assert alice.status_code == 302  # her own desk never failed: she gets in


@pytest.mark.django_db
def test_a_fresh_address_that_fails_on_a_locked_username_is_locked_too(agent, fast_logins):
    agent.set_password(PASSWORD)
    agent.save()
    for n in range(5):
        _login("alice", f"guess{n}", "198.51.100.66")

    assert _login("alice", "another-guess", "198.51.100.77").status_code == 200
    assert _login("alice", PASSWORD, "198.51.100.77").status_code == 429


# --- 8. Crafted ids in query strings are a clear refusal or ignored, never a 500 -----------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        "?label=²",
        "?label=99999999999999999999999",
        "?label=-1",
        "?cursor=99999999999999999999-1",
        "?cursor=1-99999999999999999999999",
        "?cursor=²-1",
        "?f=1&status=pending&label=1²",
    ],
)
def test_crafted_inbox_filters_are_ignored(agent, query):
    client = Client()
    client.force_login(agent)

    assert client.get("/" + query).status_code == 200
    assert client.get("/inbox/list/" + query).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("before", ["²", "99999999999999999999999", "-3", "1.5", ""])
def test_a_crafted_before_cursor_is_a_400(agent, bot, before):
    from handoffs.services import start_handoff

    handoff, _ = start_handoff(bot=bot, conversation_id="th-1", user_id="u-1", channel="web")
    client = Client()
    client.force_login(agent)

    answer = client.get(f"/handoffs/{handoff.pk}/messages/", {"before": before})

    assert answer.status_code == 400


@pytest.mark.django_db
def test_an_id_too_large_for_the_database_is_a_404(agent, bot):
    client = Client()
    client.force_login(agent)
    huge = "99999999999999999999"

    assert client.get(f"/handoffs/{huge}/").status_code == 404
    assert client.get(f"/handoffs/{huge}/messages/?before=1").status_code == 404
    answer = BotApi(Client(), bot.api_key).get(f"/handoffs/{huge}")
    assert answer.status_code == 404
    assert answer.json()["detail"]


# --- 7. One length limit per kind of text, in the services ---------------------------------


@pytest.mark.django_db
def test_an_agent_message_past_its_limit_is_refused_and_not_stored(agent, bot):
    from conversations.models import Message
    from conversations.text import AGENT_MESSAGE_MAX
    from handoffs.messaging import send_agent_message
    from handoffs.services import assign_handoff, start_handoff

    handoff, _ = start_handoff(bot=bot, conversation_id="th-1", user_id="u-1", channel="web")
    handoff = assign_handoff(handoff=handoff, agent=agent)
    client = Client()
    client.force_login(agent)

    page = client.post(f"/handoffs/{handoff.pk}/send/", {"text": "x" * 2_000_000})
    with pytest.raises(ValueError, match="at most 4,096 characters"):
        send_agent_message(handoff=handoff, agent=agent, text="x" * (AGENT_MESSAGE_MAX + 1))
    fits = send_agent_message(handoff=handoff, agent=agent, text="x" * AGENT_MESSAGE_MAX)

    assert page.status_code == 422
    assert "at most 4,096 characters" in page.content.decode()
    assert list(Message.objects.filter(direction="agent")) == [fits]


@pytest.mark.django_db
def test_a_note_past_its_limit_is_refused_by_the_service(agent, bot):
    from conversations.models import Note
    from handoffs.messaging import add_note
    from handoffs.services import start_handoff

    handoff, _ = start_handoff(bot=bot, conversation_id="th-1", user_id="u-1", channel="web")

    with pytest.raises(ValueError, match="at most 10,000 characters"):
        add_note(handoff=handoff, author=agent, text="n" * 10_001)
    assert not Note.objects.exists()


@pytest.mark.django_db
def test_a_relayed_message_past_its_limit_is_refused_by_the_service(bot):
    from conversations.models import Message
    from conversations.text import RELAYED_MESSAGE_MAX
    from handoffs.messaging import relay_message

    with pytest.raises(ValueError, match="at most 262,144 characters"):
        relay_message(
            bot=bot,
            conversation_id="th-1",
            user_id="u-1",
            channel="web",
            external_id="m-1",
            direction="incoming",
            text="y" * (RELAYED_MESSAGE_MAX + 1),
        )
    assert not Message.objects.exists()


# --- 9. IPv6 addresses that embed a private IPv4 address are private -----------------------


@pytest.mark.parametrize(
    "address",
    [
        "::127.0.0.1",  # IPv4-compatible (deprecated), what http://[::127.0.0.1]/ resolves to
        "::a00:1",  # ::10.0.0.1
        "64:ff9b:1::7f00:1",  # local-use NAT64 (RFC 8215)
        "64:ff9b:1:a00:1::",
        "::ffff:0:7f00:1",  # IPv4-translated (SIIT)
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
    ],
)
def test_ipv4_embedded_in_ipv6_is_judged_by_the_ipv4_address(address):
    from conversations.webhook_urls import is_public

    assert is_public(address) is False


def test_a_nat64_form_of_a_public_address_stays_public():
    from conversations.webhook_urls import is_public

    assert is_public("64:ff9b::808:808") is True  # 8.8.8.8 through the well-known prefix


@pytest.mark.django_db
def test_a_webhook_url_on_an_ipv4_compatible_loopback_is_refused(settings):
    from django.core.exceptions import ValidationError

    from conversations.webhook_urls import WebhookUrlValidator

    settings.HITLNEXT_WEBHOOK_REFUSE_PRIVATE = True
    with pytest.raises(ValidationError):
        WebhookUrlValidator()("http://[::127.0.0.1]/hooks")
