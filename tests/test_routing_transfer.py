"""Transfer: the assignee (or a supervisor) hands a handoff to another online agent or back to
the queue; the user hears who answers now; both agents' pages follow live."""

from __future__ import annotations

import re
import threading

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test import Client

from agents.errors import AgentOffline
from agents.roles import SUPERVISORS, is_supervisor
from handoffs import services
from handoffs.errors import IllegalTransition, NotYourHandoff, TransferRefused
from handoffs.models import Handoff
from tests.factories import UserFactory
from tests.routing_support import configure, open_count, queued
from tests.test_consumers import connect, frames, say
from tests.test_routing_load import pushed_load
from webhooks.models import Event

Status = Handoff.Status
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "conversation"}
db = database_sync_to_async


def assigned_to(bot, agent) -> Handoff:
    return services.assign_handoff(handoff=queued(bot), agent=agent)


def events_of(handoff: Handoff, *types: str) -> list[tuple[str, dict]]:
    rows = Event.objects.filter(type__in=types).order_by("id")
    return [(e.type, e.data) for e in rows if e.data["handoff"]["id"] == handoff.pk]


def system_texts(handoff: Handoff) -> list[str]:
    return list(
        handoff.conversation.messages.filter(direction="system")
        .order_by("id")
        .values_list("text", flat=True)
    )


def supervisor(**kwargs):
    user = UserFactory(online=True, **kwargs)
    user.groups.add(Group.objects.get(name=SUPERVISORS))
    return user


# --- The service ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_assignee_transfers_to_an_online_agent(bot, agent, second_agent):
    handoff = assigned_to(bot, agent)

    moved = services.transfer_handoff(handoff=handoff, by=agent, to=second_agent)

    assert moved.status == Status.ASSIGNED and moved.agent == second_agent
    (kind, transferred), (_, assigned) = events_of(
        handoff, "handoff.transferred", "handoff.assigned"
    )[1:]
    assert kind == "handoff.transferred"
    assert transferred["from_agent"]["name"] == "Alice Martin"
    assert transferred["by_agent"]["name"] == "Alice Martin"
    assert transferred["handoff"]["agent"]["name"] == "Bob Stone"
    assert assigned["assigned_by"] == "transfer"
    # The user hears who answers now.
    assert system_texts(handoff)[-1] == "You have been assigned to our agent Bob Stone."


@pytest.mark.django_db
def test_back_to_the_queue(bot, agent):
    handoff = assigned_to(bot, agent)

    back = services.transfer_handoff(handoff=handoff, by=agent, to=None)

    assert back.status == Status.PENDING and back.agent is None
    [(_, requeued)] = events_of(handoff, "handoff.requeued")
    assert requeued["reason"] == "transfer"
    assert requeued["from_agent"]["name"] == "Alice Martin"


@pytest.mark.django_db
def test_only_the_assignee_or_a_supervisor_transfers(bot, agent, second_agent):
    handoff = assigned_to(bot, agent)
    boss = supervisor(first_name="Dana")
    staff = UserFactory(online=True, is_staff=True)

    with pytest.raises(NotYourHandoff):
        services.transfer_handoff(handoff=handoff, by=second_agent, to=second_agent)
    with pytest.raises(NotYourHandoff):
        services.transfer_handoff(handoff=handoff, by=second_agent, to=None)
    assert Handoff.objects.get(pk=handoff.pk).agent == agent

    assert services.transfer_handoff(handoff=handoff, by=boss, to=second_agent).agent == (
        second_agent
    )
    assert services.transfer_handoff(handoff=handoff, by=staff, to=None).status == Status.PENDING


@pytest.mark.django_db
def test_a_supervisor_resolves_any_assigned_handoff_an_agent_only_theirs(bot, agent, second_agent):
    handoff = assigned_to(bot, agent)

    with pytest.raises(NotYourHandoff):
        services.resolve_handoff(handoff=handoff, agent=second_agent)
    resolved = services.resolve_handoff(handoff=handoff, agent=supervisor())

    assert resolved.status == Status.RESOLVED and resolved.agent == agent
    [(_, event)] = events_of(handoff, "handoff.resolved")
    assert event["exit_type"] == "handoffResolved"
    with pytest.raises(IllegalTransition):
        services.resolve_handoff(handoff=queued(bot), agent=supervisor())


@pytest.mark.django_db
def test_a_supervisor_is_a_member_of_the_group_or_staff(agent):
    assert not is_supervisor(agent)
    agent.groups.add(Group.objects.get(name=SUPERVISORS))
    # The answer is kept on the user object for one request; the next one reads it afresh.
    assert not is_supervisor(agent)
    assert is_supervisor(User.objects.get(pk=agent.pk))
    assert is_supervisor(UserFactory(is_staff=True))
    assert not is_supervisor(UserFactory(is_staff=True, is_active=False))


@pytest.mark.django_db
def test_refusals_change_nothing(bot, agent, second_agent, offline_agent):
    handoff = assigned_to(bot, agent)
    before = Event.objects.filter(conversation=handoff.conversation).count()

    with pytest.raises(TransferRefused, match="Carol Ng is offline"):
        services.transfer_handoff(handoff=handoff, by=agent, to=offline_agent)
    with pytest.raises(TransferRefused, match="already with Alice Martin"):
        services.transfer_handoff(handoff=handoff, by=agent, to=agent)
    with pytest.raises(AgentOffline):
        services.transfer_handoff(handoff=handoff, by=offline_agent, to=second_agent)
    pending = queued(bot)
    with pytest.raises(IllegalTransition, match="cannot be transferred"):
        services.transfer_handoff(handoff=pending, by=agent, to=second_agent)

    assert Handoff.objects.get(pk=handoff.pk).agent == agent
    assert Event.objects.filter(conversation=handoff.conversation).count() == before


@pytest.mark.django_db
def test_a_transfer_may_go_past_capacity_a_person_decided(bot, agent, second_agent):
    configure(second_agent, capacity=1)
    services.assign_handoff(handoff=queued(bot), agent=second_agent)
    handoff = assigned_to(bot, agent)

    services.transfer_handoff(handoff=handoff, by=agent, to=second_agent)

    assert open_count(second_agent) == 2


@pytest.mark.django_db
def test_the_new_agents_time_to_answer_starts_at_the_transfer(bot, agent, second_agent):
    handoff = assigned_to(bot, agent)
    Handoff.objects.filter(pk=handoff.pk).update(awaiting_reply_since=None)

    services.transfer_handoff(handoff=handoff, by=agent, to=second_agent)

    assert Handoff.objects.get(pk=handoff.pk).awaiting_reply_since is not None


@pytest.mark.django_db(transaction=True)
def test_in_auto_mode_back_to_the_queue_goes_to_someone_else(settings, bot, agent, second_agent):
    settings.HITLNEXT_ASSIGNMENT = "auto"
    configure(second_agent, capacity=0)
    handoff = queued(bot)
    handoff.refresh_from_db()
    if handoff.agent != agent:  # auto-assignment picked one of the two: make it Alice's
        services.transfer_handoff(handoff=handoff, by=handoff.agent, to=agent)

    services.transfer_handoff(handoff=handoff, by=agent, to=None)

    handoff.refresh_from_db()
    assert handoff.status == Status.ASSIGNED and handoff.agent == second_agent


# --- The conversation page ------------------------------------------------------------------


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def dialog_agents(html: str) -> list[str]:
    return [
        re.sub(r"\s+", " ", name).strip()
        for name in re.findall(r'hx-vals=\'\{"to": "\d+"\}\'[^>]*>([^<]*)<span', html)
    ]


@pytest.mark.django_db
def test_the_dialog_lists_online_agents_but_the_assignee_with_their_load(
    bot, agent, second_agent, offline_agent
):
    other = UserFactory(online=True, first_name="Eve", last_name="Long")
    services.assign_handoff(handoff=queued(bot), agent=other)
    handoff = assigned_to(bot, agent)

    response = logged_in(agent).get(f"/handoffs/{handoff.pk}/transfer/", **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert '<h2 id="transfer-title-' in html and "Transfer handoff</h2>" in html
    assert dialog_agents(html) == ["Bob Stone", "Eve Long"]  # least loaded first; no Carol
    assert 'title="Open handoffs">1 / 3</span>' in html
    assert ">Back to queue</button>" in html


@pytest.mark.django_db
def test_someone_elses_handoff_has_no_dialog(bot, agent, second_agent):
    handoff = assigned_to(bot, agent)

    response = logged_in(second_agent).get(f"/handoffs/{handoff.pk}/transfer/", **HTMX)

    assert response.status_code == 403
    assert "is not assigned to you" in response.content.decode()


@pytest.mark.django_db
def test_posting_a_choice_answers_the_panel(bot, agent, second_agent):
    handoff = assigned_to(bot, agent)
    client = logged_in(agent)

    response = client.post(
        f"/handoffs/{handoff.pk}/transfer/", {"to": str(second_agent.pk)}, **HTMX
    )

    assert response.status_code == 200
    assert f'data-agent="{second_agent.pk}"' in response.content.decode()
    assert Handoff.objects.get(pk=handoff.pk).agent == second_agent

    response = client.post(f"/handoffs/{handoff.pk}/transfer/", {"to": "queue"}, **HTMX)
    assert response.status_code == 403  # not Alice's any more
    assert Handoff.objects.get(pk=handoff.pk).agent == second_agent


@pytest.mark.django_db
@pytest.mark.parametrize("choice", ["", "0", "-1", "bob", "99999", "1" * 40])
def test_a_bad_choice_is_a_clear_422(bot, agent, choice):
    handoff = assigned_to(bot, agent)

    response = logged_in(agent).post(f"/handoffs/{handoff.pk}/transfer/", {"to": choice}, **HTMX)

    assert response.status_code == 422
    assert "Pick an online agent" in response.content.decode()
    assert Handoff.objects.get(pk=handoff.pk).agent == agent


@pytest.mark.django_db
def test_the_buttons_are_in_every_watchers_page_and_the_style_decides(bot, agent, second_agent):
    handoff = assigned_to(bot, agent)
    boss = supervisor()

    agent_page = logged_in(second_agent).get(f"/handoffs/{handoff.pk}/").content.decode()
    boss_page = logged_in(boss).get(f"/handoffs/{handoff.pk}/").content.decode()

    for page in (agent_page, boss_page):
        assert ">Transfer</button>" in page and ">Resolve</button>" in page
    anyone = (
        '.messages-panel:has(.handoff-head[data-status="assigned"]) '
        ":is(.action-transfer, .action-resolve)"
    )
    assert anyone in boss_page and anyone not in agent_page


# --- Live -----------------------------------------------------------------------------------


def heads(received: list[str], handoff: Handoff) -> list[str]:
    return [f for f in received if f'<header id="handoff-{handoff.pk}-head"' in f]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_both_agents_pages_follow_a_transfer(bot, agent, second_agent):
    handoff = await db(assigned_to)(bot, agent)
    alice, bob = await connect(agent), await connect(second_agent)
    for page in (alice, bob):
        await say(page, action="watch", handoff=handoff.pk)
        await frames(page)

    await db(services.transfer_handoff)(handoff=handoff, by=agent, to=second_agent)

    seen_by_alice, seen_by_bob = await frames(alice), await frames(bob)
    for seen in (seen_by_alice, seen_by_bob):
        [head] = heads(seen, handoff)
        assert f'data-status="assigned" data-agent="{second_agent.pk}"' in head
        assert any(f'id="handoff-{handoff.pk}"' in f for f in seen)  # the inbox item
    assert pushed_load(seen_by_alice) == ["0 / 3"]
    assert pushed_load(seen_by_bob) == ["1 / 3"]
    notices = [f for f in seen_by_bob if "transferred" in f and 'id="flash"' in f]
    assert len(notices) == 1 and "Alice Martin transferred" in notices[0]
    assert not [f for f in seen_by_alice if 'id="flash"' in f]
    await alice.disconnect()
    await bob.disconnect()


# --- Races, on PostgreSQL -------------------------------------------------------------------


def _at_once(*calls) -> list[object]:
    """Run the calls in threads released together; each result or the error it raised."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(index: int, call) -> None:
        barrier.wait()
        try:
            results[index] = call()
        except Exception as error:  # the refusal is the result
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


@pytest.mark.django_db(transaction=True)
def test_a_transfer_racing_a_resolve_or_another_transfer_leaves_one_story(bot, agent, second_agent):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL): SQLite writers never overlap")
    boss = supervisor()
    for _ in range(8):
        handoff = assigned_to(bot, agent)
        results = _at_once(
            lambda h=handoff: services.transfer_handoff(handoff=h, by=agent, to=second_agent),
            lambda h=handoff: services.resolve_handoff(handoff=h, agent=agent),
            lambda h=handoff: services.transfer_handoff(handoff=h, by=boss, to=None),
        )
        final = Handoff.objects.get(pk=handoff.pk)
        story = [t for t, _ in events_of(handoff, *TRANSITIONS)]
        # Whatever won, the events tell what the row says, in order.
        assert story[:2] == ["handoff.created", "handoff.assigned"]
        if final.status == Status.RESOLVED:
            assert story[-1] == "handoff.resolved"
            assert not isinstance(results[1], Exception)
        else:
            assert isinstance(results[1], Exception)  # Alice no longer held it
        if final.status == Status.ASSIGNED:
            assert final.agent == second_agent and story[-2:] == [
                "handoff.transferred",
                "handoff.assigned",
            ]
        if final.status == Status.PENDING:
            assert story[-1] == "handoff.requeued"
        assert story.count("handoff.resolved") <= 1


TRANSITIONS = (
    "handoff.created",
    "handoff.assigned",
    "handoff.transferred",
    "handoff.requeued",
    "handoff.resolved",
)
