"""The built-in web chat: the visitor's page and socket, and its isolation between visitors."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import unquote

import pytest
import time_machine
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.sessions.backends.db import SessionStore
from django.core.cache import cache
from django.core.management import call_command
from django.http import HttpResponse
from django.utils import timezone

from conversations.models import Bot, Conversation, Message
from handoffs import messaging as handoff_messaging
from handoffs import services as handoff_services
from handoffs.messaging import relay_message
from handoffs.models import Handoff
from hitlnext_project.asgi import application
from tests.factories import BotFactory, UserFactory
from webchat import live as webchat_live
from webchat import services as webchat
from webchat import visitors
from webhooks.models import Delivery, Event

VISITOR_A = "visitor-aaaaaaaaaaaaaaaa"
VISITOR_B = "visitor-bbbbbbbbbbbbbbbb"


@pytest.fixture(autouse=True)
def _fresh_limits():
    # The web chat's budgets are counted in the cache (webchat/limits.py).
    cache.clear()
    yield
    cache.clear()


def visitor_cookie(visitor_id: str | None) -> str:
    """The Cookie header of a browser the chat page gave this id (None: a cookie, not ours)."""
    if visitor_id is None:
        return "sessionid=unrelated"
    response = HttpResponse()
    visitors.set_visitor_cookie(response, visitor_id)
    return f"{visitors.COOKIE_NAME}={response.cookies[visitors.COOKIE_NAME].value}"


async def visitor_socket(
    visitor_id: str | None = VISITOR_A,
    *,
    path: str = "/ws/chat/",
    cookie: bool = True,
    language: bytes = b"en-GB,en;q=0.9",
) -> tuple[WebsocketCommunicator, bool, int | None]:
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    headers.append((b"accept-language", language))
    if cookie:
        headers.append((b"cookie", visitor_cookie(visitor_id).encode()))
    comm = WebsocketCommunicator(application, path, headers=headers)
    # A client address, as Daphne gives (the scope is read when the application starts).
    comm.scope["client"] = ("127.0.0.1", 50000)
    connected, code = await comm.connect()
    return comm, connected, code


async def connected_visitor(
    visitor_id: str = VISITOR_A, *, language: bytes = b"en-GB,en;q=0.9"
) -> WebsocketCommunicator:
    comm, connected, _ = await visitor_socket(visitor_id, language=language)
    assert connected
    await comm.receive_from()  # the catch-up
    return comm


async def send(comm: WebsocketCommunicator, **values) -> None:
    await comm.send_to(text_data=json.dumps({**values, "HEADERS": {"HX-Request": "true"}}))


async def receive_until(comm: WebsocketCommunicator, needle: str, *, limit: int = 8) -> str:
    """Frames until one contains needle (pushes arrive as separate frames, in any order)."""
    seen = []
    for _ in range(limit):
        frame = await comm.receive_from(timeout=2)
        seen.append(frame)
        if needle in frame:
            return frame
    raise AssertionError(f"{needle!r} not in {seen!r}")


def stored(visitor_id: str) -> list[tuple[str, str]]:
    conversation = webchat.find_conversation(visitor_id)
    if conversation is None:
        return []
    return list(conversation.messages.values_list("direction", "text"))


# --- the socket: who may connect ---------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_socket_without_a_visitor_cookie_is_refused():
    _, connected, code = await visitor_socket(None)
    assert (connected, code) == (False, 4403)

    _, connected, code = await visitor_socket(cookie=False)
    assert (connected, code) == (False, 4403)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_socket_refuses_an_unsigned_or_tampered_visitor_cookie():
    signed = visitor_cookie(VISITOR_A).split("=", 1)[1]
    tampered = signed.replace(VISITOR_A, VISITOR_B)
    token = visitors.visitor_token(VISITOR_A)  # signed, but for the URL, not the cookie
    for bad in (VISITOR_A, tampered, token):
        comm = WebsocketCommunicator(
            application,
            "/ws/chat/",
            headers=[
                (b"origin", b"http://localhost"),
                (b"host", b"localhost"),
                (b"cookie", f"{visitors.COOKIE_NAME}={bad}".encode()),
            ],
        )
        assert await comm.connect() == (False, 4403)
        await comm.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_socket_refuses_a_forged_or_tampered_token():
    payload, rest = visitors.visitor_token(VISITOR_A).split(":", 1)
    # B's id with A's timestamp and signature.
    forged = visitors.visitor_token(VISITOR_B).split(":", 1)[0] + ":" + rest
    assert forged.split(":", 1)[0] != payload
    for bad in (forged, "not-a-token", VISITOR_A):
        _, connected, code = await visitor_socket(path=f"/ws/chat/?t={bad}", cookie=False)
        assert (connected, code) == (False, 4403)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_socket_accepts_the_signed_token_when_the_cookie_is_withheld():
    # A cross-site iframe gets no visitor cookie; the page's signed token identifies it.
    await database_sync_to_async(webchat.post_visitor_message)(visitor_id=VISITOR_A, text="hi")
    token = visitors.visitor_token(VISITOR_A)
    comm, connected, _ = await visitor_socket(path=f"/ws/chat/?t={token}", cookie=False)
    assert connected
    assert ">hi</p>" in await comm.receive_from()
    await comm.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_socket_refuses_a_foreign_origin():
    comm = WebsocketCommunicator(
        application,
        "/ws/chat/",
        headers=[
            (b"origin", b"http://evil.example"),
            (b"cookie", visitor_cookie(VISITOR_A).encode()),
        ],
    )
    connected, _ = await comm.connect()
    assert not connected


# --- isolation between visitors ------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_catch_up_holds_only_the_visitors_own_conversation():
    await database_sync_to_async(webchat.post_visitor_message)(visitor_id=VISITOR_A, text="mine")
    await database_sync_to_async(webchat.post_visitor_message)(
        visitor_id=VISITOR_B, text="not yours"
    )
    comm, connected, _ = await visitor_socket(VISITOR_A)
    assert connected

    catch_up = await comm.receive_from()

    assert "mine" in catch_up
    assert "not yours" not in catch_up
    assert "Talk to a person" in catch_up
    await comm.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_two_visitors_only_see_their_own_messages_live():
    alice = await connected_visitor(VISITOR_A)
    bob = await connected_visitor(VISITOR_B)

    await send(alice, text="secret of A")

    assert "secret of A" in await receive_until(alice, "secret of A")
    await receive_until(alice, "demo bot")
    assert await bob.receive_nothing(timeout=0.3)
    assert await database_sync_to_async(stored)(VISITOR_B) == []
    await alice.disconnect()
    await bob.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_another_bots_conversation_with_the_same_user_id_never_reaches_the_visitor():
    visitor = await connected_visitor(VISITOR_A)

    def relay_as_other_bot():
        other = BotFactory(name="Elsewhere")
        relay_message(
            bot=other,
            conversation_id=visitors.conversation_external_id(VISITOR_A),
            user_id=VISITOR_A,
            channel="web",
            external_id="x1",
            direction=Message.Direction.OUTGOING,
            text="from another bot",
        )

    await database_sync_to_async(relay_as_other_bot)()

    assert await visitor.receive_nothing(timeout=0.3)
    await visitor.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_client_cannot_pick_a_conversation():
    await database_sync_to_async(webchat.post_visitor_message)(visitor_id=VISITOR_B, text="b")
    visitor = await connected_visitor(VISITOR_A)

    await send(visitor, text="hello", conversation_id="web-" + VISITOR_B, user_id=VISITOR_B)
    await receive_until(visitor, "hello")

    assert await database_sync_to_async(stored)(VISITOR_B) == [("incoming", "b")] + [
        ("outgoing", webchat.BOT_REPLY)
    ]
    assert ("incoming", "hello") in await database_sync_to_async(stored)(VISITOR_A)
    await visitor.disconnect()


# --- validation and limits -----------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_too_long_empty_or_malformed_input_is_refused_with_a_notice():
    visitor = await connected_visitor()

    await send(visitor, text="x" * (webchat.MAX_TEXT_LENGTH + 1))
    assert "limited to 2000 characters" in await visitor.receive_from()
    await send(visitor, text="   ")
    assert "Please type a message" in await visitor.receive_from()
    await send(visitor, text=["not", "text"])
    assert "Please type a message" in await visitor.receive_from()
    await visitor.send_to(text_data="{not json")
    assert "could not be read" in await visitor.receive_from()
    await visitor.send_to(text_data="x" * 20_000)
    assert "limited to 2000 characters" in await visitor.receive_from()
    await send(visitor, text="nul \x00 byte")
    assert "cannot be sent" in await visitor.receive_from()
    await visitor.send_to(text_data='{"text": "lone \\ud800 surrogate"}')
    assert "cannot be sent" in await visitor.receive_from()

    assert await database_sync_to_async(stored)(VISITOR_A) == []
    await visitor.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_exactly_the_maximum_length_is_accepted():
    visitor = await connected_visitor()
    await send(visitor, text="y" * webchat.MAX_TEXT_LENGTH)
    await receive_until(visitor, "y" * webchat.MAX_TEXT_LENGTH)
    await visitor.disconnect()


@pytest.mark.django_db
def test_rate_limit_per_visitor_counts_stored_messages_and_recovers():
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for n in range(webchat.RATE_LIMIT):
            webchat.post_visitor_message(visitor_id=VISITOR_A, text=f"m{n}")
        with pytest.raises(webchat.VisitorError, match="too quickly"):
            webchat.post_visitor_message(visitor_id=VISITOR_A, text="one too many")
        # Another visitor has its own budget.
        webchat.post_visitor_message(visitor_id=VISITOR_B, text="fine")
    with time_machine.travel(start + webchat.RATE_WINDOW + timedelta(seconds=1), tick=False):
        webchat.post_visitor_message(visitor_id=VISITOR_A, text="later")

    texts = [text for direction, text in stored(VISITOR_A) if direction == "incoming"]
    assert "one too many" not in texts
    assert texts[-1] == "later"
    assert len(texts) == webchat.RATE_LIMIT + 1


@pytest.mark.django_db(transaction=True)
def test_rate_limit_holds_under_concurrent_sends():
    # Each thread has its own database connection, as separate server processes would.
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    webchat.post_visitor_message(visitor_id=VISITOR_A, text="first")  # conversation exists

    def attempt(n: int) -> bool:
        try:
            webchat.post_visitor_message(visitor_id=VISITOR_A, text=f"burst {n}")
            return True
        except webchat.VisitorError:
            return False
        finally:
            connection.close()

    with ThreadPoolExecutor(6) as pool:
        accepted = sum(pool.map(attempt, range(20)))

    assert accepted == webchat.RATE_LIMIT - 1
    incoming = [d for d, _ in stored(VISITOR_A) if d == "incoming"]
    assert len(incoming) == webchat.RATE_LIMIT


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_rate_limited_socket_gets_a_notice():
    visitor = await connected_visitor()
    for n in range(webchat.RATE_LIMIT):
        await database_sync_to_async(webchat.post_visitor_message)(
            visitor_id=VISITOR_A, text=f"m{n}"
        )
    await send(visitor, text="flood")
    await receive_until(visitor, "too quickly", limit=40)
    assert ("incoming", "flood") not in await database_sync_to_async(stored)(VISITOR_A)
    await visitor.disconnect()


# --- the conversation: bot, handoff, agent -------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_visitor_message_is_stored_on_the_webchat_bot_and_answered_by_the_demo_bot():
    visitor = await connected_visitor()
    await send(visitor, text="Hello")
    await receive_until(visitor, "demo bot")

    def check():
        conversation = Conversation.objects.select_related("bot", "end_user").get()
        assert conversation.bot.is_webchat
        assert conversation.bot.name == "Web chat"
        assert conversation.external_id == f"web-{VISITOR_A}"
        assert conversation.end_user.external_id == VISITOR_A
        assert conversation.channel == "web"
        assert stored(VISITOR_A) == [("incoming", "Hello"), ("outgoing", webchat.BOT_REPLY)]

    await database_sync_to_async(check)()
    await visitor.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_talk_to_a_person_starts_a_handoff_through_the_handoff_service(monkeypatch):
    calls = []
    real = webchat.start_handoff

    def spy(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(webchat, "start_handoff", spy)
    visitor = await connected_visitor(language=b"fr-FR,fr;q=0.9,en;q=0.5")

    await send(visitor, action="handoff")

    # The chat and the transfer message, in the language the visitor's browser asked for (fr).
    await receive_until(visitor, "En attente d’une personne")
    await receive_until(visitor, "Vous êtes transféré à un agent.")

    def check():
        handoff = Handoff.objects.select_related("conversation", "bot").get()
        assert handoff.status == Handoff.Status.PENDING
        assert handoff.bot.is_webchat
        assert handoff.conversation.external_id == f"web-{VISITOR_A}"
        assert handoff.language == "fr"
        assert Event.objects.filter(bot=handoff.bot, type="handoff.created").exists()
        # The web chat bot never gets webhooks: its events go to the socket.
        assert not Delivery.objects.exists()

    await database_sync_to_async(check)()
    assert calls and calls[0]["user_id"] == VISITOR_A
    await visitor.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_agent_assignment_and_messages_reach_the_visitor_live_and_the_bot_stays_quiet():
    visitor = await connected_visitor()
    await send(visitor, action="handoff")
    await receive_until(visitor, "transferred")
    agent = await database_sync_to_async(UserFactory)(
        username="alice", first_name="Alice", last_name="Martin", online=True
    )
    handoff = await Handoff.objects.aget()

    await database_sync_to_async(handoff_services.assign_handoff)(handoff=handoff, agent=agent)
    status = await receive_until(visitor, "You are talking with")
    assert "Alice Martin" in status
    await receive_until(visitor, "assigned to our agent Alice Martin")

    await database_sync_to_async(handoff_messaging.send_agent_message)(
        handoff=handoff, agent=agent, text="Hi, I'm here to help"
    )
    pushed = await receive_until(visitor, "here to help")
    assert "Alice Martin" in pushed
    assert "wc-agent" in pushed

    await send(visitor, text="Thanks Alice")
    await receive_until(visitor, "Thanks Alice")
    texts = await database_sync_to_async(stored)(VISITOR_A)
    assert ("outgoing", webchat.BOT_REPLY) not in texts

    await database_sync_to_async(handoff_services.resolve_handoff)(handoff=handoff, agent=agent)
    await receive_until(visitor, "back with the bot")
    await send(visitor, text="bot again?")
    await receive_until(visitor, "demo bot")
    await visitor.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_markup_in_visitor_text_and_agent_names_is_escaped():
    visitor = await connected_visitor()
    await send(visitor, text="<script>alert(1)</script>")
    echoed = await receive_until(visitor, "alert(1)")
    assert "<script>" not in echoed
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in echoed

    await send(visitor, action="handoff")
    await receive_until(visitor, "Waiting for a person")
    agent = await database_sync_to_async(UserFactory)(
        username="eve", first_name="<img src=x onerror=alert(1)>", last_name="", online=True
    )
    handoff = await Handoff.objects.aget()
    await database_sync_to_async(handoff_services.assign_handoff)(handoff=handoff, agent=agent)
    status = await receive_until(visitor, "You are talking with")
    assert "<img src=x" not in status
    assert "&lt;img src=x onerror=alert(1)&gt;" in status
    await visitor.disconnect()


# --- pages -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_chat_page_gives_an_anonymous_visitor_an_id_and_shows_only_their_messages(client):
    response = client.get("/chat/")
    assert response.status_code == 200
    visitor_id = visitors.visitor_from_cookie(client.cookies[visitors.COOKIE_NAME].value)
    assert visitors.is_visitor_id(visitor_id)
    webchat.post_visitor_message(visitor_id=visitor_id, text="my own words")
    webchat.post_visitor_message(visitor_id=VISITOR_B, text="someone else's words")

    page = client.get("/chat/").content.decode()

    assert visitors.visitor_from_cookie(client.cookies[visitors.COOKIE_NAME].value) == visitor_id
    assert "my own words" in page
    assert "someone else" not in page
    assert 'ws-connect="/ws/chat/?t=' in page
    token = unquote(page.split("?t=")[1].split('"')[0])
    assert visitors.visitor_from_token(token) == visitor_id


@pytest.mark.django_db
@pytest.mark.parametrize("https", [False, True])
def test_the_visitor_cookie_is_httponly_lax_and_secure_over_https(client, settings, https):
    settings.HTTPS = https

    cookie = client.get("/chat/", secure=https).cookies[visitors.COOKIE_NAME]

    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert bool(cookie["secure"]) is https
    # Signed: the id alone, or another visitor's id in a copy of it, is not accepted.
    visitor_id = visitors.visitor_from_cookie(cookie.value)
    assert visitors.is_visitor_id(visitor_id)
    assert visitors.visitor_from_cookie(visitor_id) is None
    assert visitors.visitor_from_cookie(cookie.value.replace(visitor_id, VISITOR_B)) is None


@pytest.mark.django_db
def test_a_visitor_whose_id_is_in_their_session_keeps_their_conversation(client, settings):
    # Visitors from before the id moved to its own cookie.
    session = SessionStore()
    session[visitors.SESSION_KEY] = VISITOR_A
    session.save()
    webchat.post_visitor_message(visitor_id=VISITOR_A, text="from before the cookie")
    client.cookies[settings.SESSION_COOKIE_NAME] = session.session_key

    page = client.get("/chat/").content.decode()

    assert "from before the cookie" in page
    assert visitors.visitor_from_cookie(client.cookies[visitors.COOKIE_NAME].value) == VISITOR_A


@pytest.mark.django_db
def test_chat_page_may_be_framed_by_configured_ancestors_only(client):
    response = client.get("/chat/?embed=1")

    assert "X-Frame-Options" not in response.headers
    assert "frame-ancestors 'self'" in response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "no-cache" in response.headers["Cache-Control"]
    # Every other page stays unframeable.
    assert client.get("/chat/demo/").headers["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
def test_chat_page_refuses_post(client):
    assert client.post("/chat/").status_code == 405


@pytest.mark.django_db
def test_demo_page_embeds_the_widget_with_one_script_tag(client):
    page = client.get("/chat/demo/").content.decode()
    assert page.count("<script") == 1
    assert '<script src="/static/webchat/widget.js" async>' in page


@pytest.mark.django_db
def test_catch_up_query_count_is_fixed(django_assert_num_queries):
    for n in range(5):
        webchat.post_visitor_message(visitor_id=VISITOR_A, text=f"m{n}")
    webchat.request_person(visitor_id=VISITOR_A)
    # conversation, handoff, messages; the pending handoff's position and the online agents
    # (the history's statistics are kept a while: read when the handoff was created).
    with django_assert_num_queries(5):
        html = webchat_live.render_catch_up(VISITOR_A)
    assert "m4" in html


# --- the bot record and first run ----------------------------------------------------------


@pytest.mark.django_db
def test_webchat_bot_is_created_once_and_gets_no_webhooks():
    first = webchat.get_webchat_bot()
    again = webchat.get_webchat_bot()

    assert first.pk == again.pk
    assert Bot.objects.filter(is_webchat=True).count() == 1
    assert first.webhook_url == ""
    assert first.api_key_hash


@pytest.mark.django_db
def test_setup_demo_creates_the_webchat_bot_and_says_where_to_chat(capsys, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("setup_demo")
    out = capsys.readouterr().out

    assert "Web chat (as a visitor): http://127.0.0.1:8000/chat/" in out
    assert "Agent inbox:  http://127.0.0.1:8000/" in out
    assert Bot.objects.filter(is_webchat=True).exists()


@pytest.mark.django_db
def test_visitor_sees_the_agents_name_and_avatar(agent):
    agent.agent_profile.avatar.name = "avatars/alice.png"
    agent.agent_profile.save()
    webchat.request_person(visitor_id=VISITOR_A)
    handoff = Handoff.objects.get()
    handoff_services.assign_handoff(handoff=handoff, agent=agent)
    message = handoff_messaging.send_agent_message(handoff=handoff, agent=agent, text="Hi")

    status = webchat_live.render_status(webchat.latest_handoff(handoff.conversation))
    html = webchat_live.render_catch_up(VISITOR_A)

    assert 'src="/media/avatars/alice.png"' in status
    assert "Alice Martin" in status
    item = html.split(f'id="webchat-message-{message.pk}"')[1].split("</li>")[0]
    assert 'src="/media/avatars/alice.png"' in item
    assert "Alice Martin" in item
