"""A pending handoff's place in the queue: its position and wait estimate in the handoff JSON
(API and events), from the database, and in system messages ({{queuePosition}},
{{estimatedWait}})."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from conversations.models import Message
from handoffs import services
from handoffs.models import Handoff, SystemMessage
from handoffs.queue_place import positions, wait_words
from handoffs.steps import system_message_text
from handoffs.templating import fill_system_message
from routing.queue import queue
from tests.api_support import BotApi, handoff_body
from tests.factories import HandoffFactory
from tests.routing_support import configure, queued
from webhooks.models import Event

pytestmark = pytest.mark.django_db

Status = Handoff.Status
NOW = timezone.now().replace(microsecond=0)


@pytest.fixture
def api(client, bot):
    return BotApi(client, bot.api_key)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def ago(seconds: float):
    return NOW - timedelta(seconds=seconds)


def past(bot, *, created: float, assigned: float | None, closed: float | None, **fields):
    """A handoff of the history: times in seconds before NOW."""
    status = Status.RESOLVED if assigned is not None else Status.EXPIRED
    if closed is None:
        status = Status.ASSIGNED if assigned is not None else Status.PENDING
    return HandoffFactory(
        conversation__bot=bot,
        status=status,
        created_at=ago(created),
        assigned_at=None if assigned is None else ago(assigned),
        closed_at=None if closed is None else ago(closed),
        **fields,
    )


def pending(bot, *, created: float = 0, priority: str = "normal") -> Handoff:
    return past(bot, created=created, assigned=None, closed=None, priority=priority)


def queue_json(api, handoff: Handoff) -> dict | None:
    return api.get(f"/handoffs/{handoff.pk}").json()["queue"]


# --- Positions ----------------------------------------------------------------------------


def test_positions_follow_the_queue_order_in_one_query(bot, django_assert_num_queries):
    handoffs = [
        queued(bot, age_minutes=30),
        queued(bot, age_minutes=1, priority="high"),
        queued(bot, age_minutes=2),
        queued(bot, age_minutes=10, priority="high"),
        queued(bot, age_minutes=20),
    ]
    Handoff.objects.filter(pk=handoffs[4].pk).update(status=Status.ASSIGNED)
    handoffs[4].refresh_from_db()

    with django_assert_num_queries(1):
        found = positions(handoffs)

    assert found == {h.pk: n for n, h in enumerate(queue(), start=1)}
    assert [found.get(h.pk) for h in handoffs] == [3, 2, 4, 1, None]


def test_equal_creation_times_are_ordered_by_id(bot):
    first, second = queued(bot), queued(bot)
    Handoff.objects.update(created_at=first.created_at)
    first.refresh_from_db()
    second.refresh_from_db()

    assert positions([second, first]) == {first.pk: 1, second.pk: 2}


def test_no_pending_handoff_costs_no_query(bot, django_assert_num_queries):
    done = past(bot, created=100, assigned=90, closed=10)

    with django_assert_num_queries(0):
        assert positions([done]) == {}


# --- The handoff JSON -----------------------------------------------------------------------


def test_json_gives_the_place_while_pending_and_null_after(api, bot, agent, frozen):
    first = pending(bot, created=60)
    second = pending(bot, created=30)

    assert queue_json(api, second)["position"] == 2
    services.assign_handoff(handoff=first, agent=agent)

    assert queue_json(api, second)["position"] == 1
    assert queue_json(api, first) is None


def test_auto_mode_estimate_from_places_and_handle_time(api, bot, agent, second_agent, settings):
    settings.HITLNEXT_ASSIGNMENT = "auto"
    configure(agent, capacity=1)
    configure(second_agent, capacity=1)
    with time_machine.travel(NOW, tick=False):
        # Each agent has one open handoff (their only place); four chats of 600 s ended in the
        # last hour, taken at once (no wait): two places, one frees every 300 s.
        past(bot, created=60, assigned=60, closed=None, agent=agent)
        past(bot, created=120, assigned=120, closed=None, agent=second_agent)
        for n in range(4):
            past(bot, created=1000 + n, assigned=1000 + n, closed=400 + n)
        first, second = pending(bot), pending(bot)

        assert queue_json(api, first) == {
            "position": 1,
            "estimated_wait_seconds": 300,
            "agents_online": 2,
        }
        assert queue_json(api, second)["estimated_wait_seconds"] == 600


def test_manual_mode_estimate_from_the_recent_throughput(api, bot, agent, frozen):
    # Three handoffs waited 100 s each, back to back: 3 served in 300 s of queue.
    for start in (1000, 900, 800):
        past(bot, created=start, assigned=start - 100, closed=10)
    pending(bot)
    waiting = pending(bot)

    assert queue_json(api, waiting) == {
        "position": 2,
        "estimated_wait_seconds": 200,
        "agents_online": 1,
    }


def test_nobody_online_and_no_history_is_an_unknown_wait(api, bot, offline_agent, frozen):
    handoff = pending(bot)

    assert queue_json(api, handoff) == {
        "position": 1,
        "estimated_wait_seconds": None,
        "agents_online": 0,
    }


def test_events_carry_the_place_while_pending(api, bot, agent):
    handoff_id = api.post("/handoffs", handoff_body()).json()["id"]
    services.assign_handoff(handoff=Handoff.objects.get(pk=handoff_id), agent=agent)

    created, assigned = (
        Event.objects.get(type=kind).data["handoff"]["queue"]
        for kind in ("handoff.created", "handoff.assigned")
    )
    assert created["position"] == 1 and created["agents_online"] == 1
    assert assigned is None


def test_the_history_is_read_once_for_many_estimates(api, bot, agent, django_assert_num_queries):
    handoffs = [pending(bot, created=n) for n in range(5)]
    queue_json(api, handoffs[0])  # reads the history

    # auth, the handoff with its relations, labels; the position; the online agents.
    with django_assert_num_queries(5):
        api.get(f"/handoffs/{handoffs[4].pk}")


# --- Words ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "language", "words"),
    [
        (None, "en", ""),
        (0, "en", "less than a minute"),
        (59, "en", "less than a minute"),
        (60, "en", "about 1 minute"),
        (89, "en", "about 1 minute"),
        (150, "en", "about 2 minutes"),
        (3000, "en", "about 50 minutes"),
        (3570, "en", "about 1 hour"),
        (9000, "en", "about 2 hours"),
        (200, "fr", "environ 3 minutes"),
        (200, "FR_ca", "environ 3 minutes"),
        (30, "es", "menos de un minuto"),
        (7200, "es", "alrededor de 2 horas"),
        (200, "pt-BR", "about 3 minutes"),
    ],
)
def test_wait_words(seconds, language, words):
    assert wait_words(seconds, language) == words


# --- System messages ------------------------------------------------------------------------

PLACE = {"queuePosition": "3", "estimatedWait": "about 5 minutes"}
UNKNOWN_WAIT = {"queuePosition": "3", "estimatedWait": ""}


@pytest.mark.parametrize(
    ("text", "values", "filled"),
    [
        (
            "You are number {{queuePosition}} in line, estimated wait {{estimatedWait}}.",
            PLACE,
            "You are number 3 in line, estimated wait about 5 minutes.",
        ),
        # An empty value takes its clause...
        (
            "You are number {{queuePosition}} in line, estimated wait {{estimatedWait}}.",
            UNKNOWN_WAIT,
            "You are number 3 in line.",
        ),
        # ... or its parentheses...
        (
            "You are number {{ queuePosition }} in line (about {{estimatedWait}}). Thanks!",
            UNKNOWN_WAIT,
            "You are number 3 in line. Thanks!",
        ),
        # ... or its sentence, and the others stay as written.
        (
            "You are being transferred to an agent. Estimated wait: {{estimatedWait}}. Thanks!",
            UNKNOWN_WAIT,
            "You are being transferred to an agent. Thanks!",
        ),
        (
            "Vous êtes transféré à un agent.\nAttente estimée : {{estimatedWait}} !\nMerci.",
            UNKNOWN_WAIT,
            "Vous êtes transféré à un agent.\nMerci.",
        ),
        # The sentence's first clause gone, the next one starts it.
        ("{{estimatedWait}} to wait, you are {{queuePosition}}.", UNKNOWN_WAIT, "You are 3."),
        # Nothing left: nothing is sent.
        ("Estimated wait: {{estimatedWait}}", UNKNOWN_WAIT, ""),
        # A name not given renders empty like the others, an unknown one too; other braces
        # stay as written.
        ("Hi {{agentName}}, {{ 7*7 }} stays.", {}, "{{ 7*7 }} stays."),
        ("Hi {{user.name}}, {{ 7*7 }} {{foo}}. Bye.", {}, "Bye."),
        ("Assigned to {{agentName}}.", {"agentName": "Alice  Martin"}, "Assigned to Alice Martin."),
    ],
)
def test_fill_system_message(text, values, filled):
    assert fill_system_message(text, values) == filled


def transfer_message(bot, **start) -> str:
    handoff = queued(bot, **start)
    return handoff.conversation.messages.get(direction=Message.Direction.SYSTEM).text


def test_the_transfer_message_tells_the_place_in_line(bot, agent):
    SystemMessage.objects.filter(kind="transfer", language="en").update(
        text="You are being transferred to an agent. You are number {{queuePosition}} in line, "
        "estimated wait {{estimatedWait}}."
    )
    # Manual mode, one handoff served after 100 s of queue: 0.01 a second.
    past(bot, created=1000, assigned=900, closed=10)
    queued(bot)

    assert transfer_message(bot) == (
        "You are being transferred to an agent. You are number 2 in line, estimated wait "
        "about 3 minutes."
    )


def test_an_unknown_wait_leaves_its_clause_out_of_the_message(bot, offline_agent):
    SystemMessage.objects.filter(kind="transfer", language="fr").update(
        text="Vous êtes le numéro {{queuePosition}}, attente estimée : {{estimatedWait}}."
    )

    assert transfer_message(bot, language="fr") == "Vous êtes le numéro 1."


def test_the_shipped_messages_cost_no_queue_query(bot, django_assert_num_queries):
    handoff = queued(bot)

    with django_assert_num_queries(1):  # the texts
        text = system_message_text(kind="transfer", language="en", bot=bot, handoff=handoff)
    assert text == "You are being transferred to an agent."
