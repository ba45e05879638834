"""An agent whose access ends loses their open sockets too, not only their HTTP session."""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import get_channel_layer
from django.test import Client

from agents import live, revocation
from handoffs.consumers import RECONNECT
from tests.test_consumers import connect, db, frames, say, start, user_says

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "a-brand-new-passphrase-42"


async def closed_with(communicator) -> tuple[int | None, list[str]]:
    """(close code, or None if still open after 2 s; the frames received before)."""
    received = []
    while True:
        try:
            output = await communicator.receive_output(timeout=2)
        except TimeoutError:
            return None, received
        if output["type"] == "websocket.close":
            return output["code"], received
        received.append(output["text"])


def deactivate(user) -> None:
    user.is_active = False
    user.save()


def delete(user) -> None:
    user.delete()


def change_password(user) -> None:
    user.set_password(NEW_PASSWORD)
    user.save()


def disable_password(user) -> None:
    user.set_unusable_password()
    user.save()


@pytest.fixture
def missed_announcement(monkeypatch):
    """The channel layer drops the revocation message (delivery is at-most-once)."""
    send_event = live.send_event

    def dropping(group, event):
        if event.get("type") != "user.revoked":
            send_event(group, event)

    monkeypatch.setattr(live, "send_event", dropping)


@pytest.mark.asyncio
@pytest.mark.parametrize("revoke", [deactivate, delete])
async def test_a_deactivated_or_deleted_agent_loses_their_open_socket(
    bot, agent, second_agent, revoke
):
    alice, bob = await connect(agent), await connect(second_agent)

    await db(revoke)(agent)

    assert await closed_with(alice) == (4403, [])
    handoff = await db(start)(bot)
    assert await alice.receive_nothing(timeout=0.3)  # no later inbox push
    assert any(f'<li id="handoff-{handoff.pk}"' in f for f in await frames(bob))
    await bob.disconnect()


@pytest.mark.asyncio
@pytest.mark.parametrize("revoke", [change_password, disable_password])
async def test_a_password_change_closes_the_agents_open_socket(bot, agent, revoke):
    alice = await connect(agent)

    await db(revoke)(agent)

    assert await closed_with(alice) == (4403, [])
    await db(start)(bot)
    assert await alice.receive_nothing(timeout=0.3)


@pytest.mark.asyncio
@pytest.mark.parametrize("revoke", [deactivate, change_password])
async def test_an_action_after_a_missed_revocation_is_refused(
    bot, agent, revoke, missed_announcement
):
    handoff = await db(start)(bot)
    await db(user_says)(bot, "my card number is", 1)
    alice = await connect(agent)
    await db(revoke)(agent)
    assert await alice.receive_nothing(timeout=0.3)  # the announcement never came

    await say(alice, action="watch", handoff=handoff.pk, after=1)

    assert await closed_with(alice) == (4403, [])
    await say(alice, action="hello")
    assert await alice.receive_nothing(timeout=0.3)


@pytest.mark.asyncio
async def test_a_push_after_a_minute_ends_a_socket_whose_revocation_was_missed(
    bot, agent, missed_announcement, monkeypatch
):
    monkeypatch.setattr("handoffs.consumers.RECHECK_EVERY", 0)
    alice = await connect(agent)
    await db(deactivate)(agent)

    await db(start)(bot)

    assert await closed_with(alice) == (4403, [])


@pytest.mark.asyncio
async def test_pushes_recheck_the_session_at_most_once_per_interval(bot, agent, monkeypatch):
    checks = []
    real = revocation.signed_in_user

    def counting(session_key):
        checks.append(session_key)
        return real(session_key)

    monkeypatch.setattr("agents.revocation.signed_in_user", counting)
    monkeypatch.setattr("handoffs.consumers.RECHECK_EVERY", 0.5)
    alice = await connect(agent)
    layer = get_channel_layer()

    await layer.group_send("inbox", {"type": "push.html", "html": "<p>early</p>"})
    assert await alice.receive_from() == "<p>early</p>"
    assert checks == []  # fresh from the handshake: forwarded as is
    await asyncio.sleep(0.6)
    for n in range(3):
        await layer.group_send("inbox", {"type": "push.html", "html": f"<p>{n}</p>"})

    assert await frames(alice) == ["<p>0</p>", "<p>1</p>", "<p>2</p>"]
    assert len(checks) == 1
    await alice.disconnect()


def test_checking_a_session_costs_two_queries(agent, django_assert_num_queries):
    client = Client()
    client.force_login(agent)
    session_key = client.session.session_key

    with django_assert_num_queries(2):  # the session, then the user
        assert revocation.signed_in_user(session_key) == agent


@pytest.mark.asyncio
@pytest.mark.parametrize("bad", ["²", "1" * 30, 2**63, "-1", "１２", True])
async def test_watch_ignores_ids_that_are_not_plain_numbers(bot, agent, bad):
    handoff = await db(start)(bot)
    message = await db(user_says)(bot, "hello there", 1)
    alice = await connect(agent)

    await say(alice, action="watch", handoff=bad)
    assert await frames(alice) == []
    await say(alice, action="watch", handoff=handoff.pk, after=bad)

    received = "".join(await frames(alice))  # still open: no 1011
    assert f'<header id="handoff-{handoff.pk}-head"' in received
    assert f'id="message-{message.pk}"' not in received  # no cursor, no catch-up
    await say(alice, action="hello")
    assert len(await frames(alice)) == 1
    await alice.disconnect()


@pytest.mark.asyncio
async def test_an_agents_own_password_change_in_the_admin_keeps_their_page_signed_in(agent):
    agent.is_staff = agent.is_superuser = True
    await db(agent.save)()
    here, elsewhere = Client(), Client()
    for client in (here, elsewhere):
        await db(client.force_login)(agent)
    page_here = await connect(agent, cookie=here.cookies["sessionid"].value)
    page_elsewhere = await connect(agent, cookie=elsewhere.cookies["sessionid"].value)

    response = await db(here.post)(
        f"/admin/auth/user/{agent.pk}/password/",
        {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    # The browser that changed it keeps its session (update_session_auth_hash gave it a new
    # key): its page is asked to reconnect, not sent to the login, and the reconnect is let in.
    assert await closed_with(page_here) == (RECONNECT, [])
    assert (await db(here.get)("/")).status_code == 200
    page_here = await connect(agent, cookie=here.cookies["sessionid"].value)
    await say(page_here, action="hello")
    assert len(await frames(page_here)) == 1
    # Anyone else signed in with the old password is out.
    assert await closed_with(page_elsewhere) == (4403, [])
    await page_here.disconnect()
