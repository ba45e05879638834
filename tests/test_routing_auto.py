"""Auto-assignment: who gets the queue's head, within capacity, and what sets it off."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django import forms
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from agents.models import AgentProfile
from agents.services import set_online
from handoffs import services
from handoffs.models import Handoff
from routing.services import ASSIGN_LIMIT, assign_next
from tests.factories import UserFactory
from tests.routing_support import assigned_events, configure, open_count, queued, start
from webhooks import worker

pytestmark = pytest.mark.django_db

Status = Handoff.Status


@pytest.fixture
def auto(settings):
    settings.HITLNEXT_ASSIGNMENT = "auto"
    settings.HITLNEXT_AGENT_CAPACITY = 3


def give(handoff: Handoff, user: User) -> Handoff:
    return services.assign_handoff(handoff=handoff, agent=user)


def status_of(handoff: Handoff) -> tuple[str, int | None]:
    handoff.refresh_from_db()
    return handoff.status, handoff.agent_id


# --- Manual mode: today's behaviour ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_manual_mode_never_assigns_by_itself(bot, agent, second_agent):
    # Committed for real: every hook runs, and the worker's pass too.
    handoff = start(bot)
    set_online(agent=agent, online=False)
    set_online(agent=agent, online=True)
    worker.run_once()

    assert assign_next() == 0
    assert status_of(handoff) == (Status.PENDING, None)


def test_assign_to_me_may_go_past_capacity(bot, agent):
    configure(agent, capacity=1)

    first, second = give(queued(bot), agent), give(queued(bot), agent)

    assert (first.status, second.status) == (Status.ASSIGNED, Status.ASSIGNED)
    assert open_count(agent) == 2
    assert [e["assigned_by"] for e in assigned_events()] == ["agent", "agent"]


def test_assign_to_me_may_go_past_capacity_in_auto_mode_too(auto, bot, agent):
    configure(agent, capacity=1)
    give(queued(bot), agent)

    give(queued(bot), agent)

    assert open_count(agent) == 2


# --- Who gets what --------------------------------------------------------------------------


def test_the_queue_head_goes_to_the_least_loaded_online_agent(auto, bot, agent, second_agent):
    give(queued(bot), agent)
    give(queued(bot), agent)
    give(queued(bot), second_agent)  # the latest assignment: loads come before the tie-break
    older, high = queued(bot, age_minutes=10), queued(bot, priority="high")

    assert assign_next(limit=1) == 1

    assert status_of(high) == (Status.ASSIGNED, second_agent.pk)
    assert status_of(older) == (Status.PENDING, None)


def test_assignments_spread_to_the_least_loaded_until_everyone_is_full(
    auto, settings, bot, agent, second_agent
):
    settings.HITLNEXT_AGENT_CAPACITY = 2
    handoffs = [queued(bot, age_minutes=10 - n) for n in range(6)]

    assert assign_next() == 4

    assert (open_count(agent), open_count(second_agent)) == (2, 2)
    assert [h.status for h in Handoff.objects.order_by("created_at")] == [Status.ASSIGNED] * 4 + [
        Status.PENDING
    ] * 2
    assert {status_of(h)[0] for h in handoffs[4:]} == {Status.PENDING}


def test_capacity_of_the_profile_wins_over_the_setting(auto, bot, agent):
    configure(agent, capacity=1)
    for _ in range(3):
        queued(bot)

    assert assign_next() == 1
    assert open_count(agent) == 1


def test_capacity_zero_is_unlimited(auto, bot, agent):
    configure(agent, capacity=0)
    for _ in range(5):
        queued(bot)

    assert assign_next() == 5
    assert open_count(agent) == 5


def test_an_agent_already_at_capacity_gets_nothing(auto, bot, agent, second_agent):
    configure(agent, capacity=1)
    configure(second_agent, capacity=1)
    give(queued(bot), agent)
    give(queued(bot), second_agent)
    waiting = queued(bot)

    assert assign_next() == 0
    assert status_of(waiting) == (Status.PENDING, None)


def test_offline_and_inactive_agents_get_nothing(auto, bot, offline_agent):
    inactive = UserFactory(online=True, is_active=False)
    waiting = queued(bot)

    assert assign_next() == 0
    assert status_of(waiting) == (Status.PENDING, None)
    assert open_count(offline_agent) == open_count(inactive) == 0


def test_equal_loads_go_to_whoever_waited_longest_since_their_last_assignment(
    auto, bot, agent, second_agent
):
    now = timezone.now()
    AgentProfile.objects.filter(user=agent).update(last_assigned_at=now - timedelta(minutes=1))
    AgentProfile.objects.filter(user=second_agent).update(last_assigned_at=now - timedelta(hours=1))
    first, second = queued(bot, age_minutes=2), queued(bot, age_minutes=1)

    assert assign_next(limit=1) == 1
    assert status_of(first) == (Status.ASSIGNED, second_agent.pk)

    # Bob now has one; Alice, with none, gets the next whatever her last assignment.
    assert assign_next(limit=1) == 1
    assert status_of(second) == (Status.ASSIGNED, agent.pk)


def test_an_agent_never_assigned_goes_before_one_assigned_long_ago(auto, bot, agent, second_agent):
    long_ago = timezone.now() - timedelta(days=30)
    AgentProfile.objects.filter(user=agent).update(last_assigned_at=long_ago)
    handoff = queued(bot)

    assign_next()

    assert status_of(handoff) == (Status.ASSIGNED, second_agent.pk)


def test_assigning_records_when_the_agent_last_got_a_handoff(auto, bot, agent):
    queued(bot)

    assign_next()

    assert AgentProfile.objects.get(user=agent).last_assigned_at is not None


def test_a_speaker_of_the_language_is_preferred_even_when_busier(auto, bot, agent, second_agent):
    configure(second_agent, languages="en, fr")
    give(queued(bot), second_agent)
    french = queued(bot, language="fr-FR")

    assign_next(limit=1)

    assert status_of(french) == (Status.ASSIGNED, second_agent.pk)


def test_without_a_speaker_online_anyone_takes_it(auto, bot, agent, second_agent, offline_agent):
    configure(offline_agent, languages="fr")
    configure(agent, languages="en")
    give(queued(bot), second_agent)
    french = queued(bot, language="fr")

    assign_next()

    assert status_of(french) == (Status.ASSIGNED, agent.pk)


def test_a_handoff_waits_for_its_busy_speaker_while_those_behind_it_are_served(
    auto, bot, agent, second_agent
):
    configure(second_agent, capacity=1, languages="fr")
    give(queued(bot), second_agent)
    french = queued(bot, language="fr", age_minutes=10)
    english = queued(bot, language="en", age_minutes=5)

    assert assign_next() == 1

    assert status_of(french) == (Status.PENDING, None)
    assert status_of(english) == (Status.ASSIGNED, agent.pk)


def test_a_requeued_handoff_skips_the_agent_it_came_from(auto, bot, agent, second_agent):
    give(queued(bot), second_agent)
    handoff = give(queued(bot), agent)
    services.requeue_handoff(handoff=handoff, reason="agentDidNotReply")

    assign_next()

    # Alice is the least loaded now, but she is who did not answer.
    assert status_of(handoff) == (Status.ASSIGNED, second_agent.pk)


def test_a_requeued_handoff_waits_when_only_its_previous_agent_is_online(auto, bot, agent):
    handoff = give(queued(bot), agent)
    services.requeue_handoff(handoff=handoff, reason="agentDidNotReply")

    assert assign_next() == 0
    assert status_of(handoff) == (Status.PENDING, None)


# --- What the bot sees ----------------------------------------------------------------------


def test_assigned_by_says_who_decided(auto, bot, agent, second_agent):
    by_hand = give(queued(bot), agent)
    by_routing = queued(bot)

    assign_next()

    assert [e["assigned_by"] for e in assigned_events(by_hand)] == ["agent"]
    assert [e["assigned_by"] for e in assigned_events(by_routing)] == ["auto"]
    assert assigned_events(by_routing)[0]["handoff"]["agent"]["id"] == second_agent.pk


def test_an_automatic_assignment_tells_the_user_who_took_it(auto, bot, agent):
    handoff = queued(bot, language="en")

    assign_next()

    text = handoff.conversation.messages.filter(direction="system").last().text
    assert "Alice Martin" in text


def test_an_automatic_assignment_is_not_the_agents_activity(auto, bot, agent):
    before = AgentProfile.objects.get(user=agent).session_expires_at
    queued(bot)

    assign_next()

    assert AgentProfile.objects.get(user=agent).session_expires_at == before


def test_auto_assign_handoff_refuses_an_offline_or_full_agent(bot, agent, offline_agent):
    configure(agent, capacity=1)
    give(queued(bot), agent)
    waiting = queued(bot)

    assert services.auto_assign_handoff(handoff=waiting, agent=agent) is None
    assert services.auto_assign_handoff(handoff=waiting, agent=offline_agent) is None
    assert status_of(waiting) == (Status.PENDING, None)
    assert len(assigned_events()) == 1


# --- What sets it off -----------------------------------------------------------------------


def test_a_new_handoff_is_assigned_at_once(auto, bot, agent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        handoff = start(bot)

    assert status_of(handoff) == (Status.ASSIGNED, agent.pk)


def test_an_agent_going_online_takes_the_queue(
    auto, bot, offline_agent, django_capture_on_commit_callbacks
):
    handoff = queued(bot)

    with django_capture_on_commit_callbacks(execute=True):
        set_online(agent=offline_agent, online=True)

    assert status_of(handoff) == (Status.ASSIGNED, offline_agent.pk)


def test_going_online_through_the_header_switch_takes_the_queue(
    auto, client, bot, offline_agent, django_capture_on_commit_callbacks
):
    handoff = queued(bot)
    client.force_login(offline_agent)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("presence"), {"online": "true"})

    assert response.status_code == 200
    assert status_of(handoff) == (Status.ASSIGNED, offline_agent.pk)


def test_a_resolve_makes_room_for_the_next(auto, bot, agent, django_capture_on_commit_callbacks):
    configure(agent, capacity=1)
    current = give(queued(bot), agent)
    waiting = queued(bot)

    with django_capture_on_commit_callbacks(execute=True):
        services.resolve_handoff(handoff=current, agent=agent)

    assert status_of(waiting) == (Status.ASSIGNED, agent.pk)


def test_a_reject_makes_room_for_the_next(auto, bot, agent, django_capture_on_commit_callbacks):
    configure(agent, capacity=1)
    current = give(queued(bot), agent)
    waiting = queued(bot)

    with django_capture_on_commit_callbacks(execute=True):
        services.reject_handoff(handoff=current)

    assert status_of(waiting) == (Status.ASSIGNED, agent.pk)


def test_a_requeue_makes_room_and_passes_the_handoff_on(
    auto, bot, agent, second_agent, django_capture_on_commit_callbacks
):
    configure(agent, capacity=1)
    configure(second_agent, capacity=1)
    current = give(queued(bot), agent)
    give(queued(bot), second_agent)
    waiting = queued(bot, age_minutes=5)

    with django_capture_on_commit_callbacks(execute=True):
        services.requeue_handoff(handoff=current, reason="transfer")

    # Alice's place went to the queue's head; the requeued handoff waits for a free agent
    # other than her.
    assert status_of(waiting) == (Status.ASSIGNED, agent.pk)
    assert status_of(current) == (Status.PENDING, None)


@pytest.fixture
def admin_client(db) -> Client:
    client = Client()
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def _user_change_form(admin_client: Client, user: User) -> tuple[str, dict]:
    """The admin's change page for `user` and the data it would post unchanged."""
    url = reverse("admin:auth_user_change", args=[user.pk])
    context = admin_client.get(url).context
    data: dict = {}
    all_forms = [context["adminform"].form]
    for inline in context["inline_admin_formsets"]:
        formset = inline.formset
        data |= {
            f"{formset.prefix}-{key}": value
            for key, value in formset.management_form.initial.items()
        }
        all_forms += formset.forms
    for form in all_forms:
        for name, field in form.fields.items():
            value = form.initial.get(name, field.initial)
            if value is None or field.disabled or isinstance(field, forms.FileField):
                continue
            if isinstance(field.widget, forms.MultiWidget):  # date_joined: date and time
                for n, part in enumerate(field.widget.decompress(value)):
                    data[f"{form.add_prefix(name)}_{n}"] = part
                continue
            if isinstance(value, list | tuple):
                value = [getattr(v, "pk", v) for v in value]
            elif hasattr(value, "pk"):
                value = value.pk
            data[form.add_prefix(name)] = value
    return url, data


def test_more_capacity_saved_in_the_admin_takes_the_queue(
    auto, admin_client, bot, agent, django_capture_on_commit_callbacks
):
    configure(agent, capacity=1)
    give(queued(bot), agent)
    waiting = queued(bot)
    url, data = _user_change_form(admin_client, agent)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, data | {"agent_profile-0-capacity": "2"})

    assert response.status_code == 302, response.context["errors"]
    assert AgentProfile.objects.get(user=agent).capacity == 2
    assert status_of(waiting) == (Status.ASSIGNED, agent.pk)


def test_the_admin_edits_languages_and_refuses_nonsense(admin_client, agent):
    url, data = _user_change_form(admin_client, agent)

    refused = admin_client.post(url, data | {"agent_profile-0-languages": "english!, fr"})
    saved = admin_client.post(url, data | {"agent_profile-0-languages": "en, fr_CA"})

    assert refused.status_code == 200
    assert "Not a language code: english!" in refused.content.decode()
    assert saved.status_code == 302
    assert AgentProfile.objects.get(user=agent).language_codes == ["en", "fr-ca"]


@pytest.mark.django_db(transaction=True)
def test_the_worker_sweeps_the_queue_on_every_pass(auto, bot, offline_agent):
    handoff = queued(bot)
    # Online without announcing it: only the worker's sweep can notice.
    AgentProfile.objects.filter(user=offline_agent).update(online=True)
    assert status_of(handoff) == (Status.PENDING, None)

    worker.run_once()

    assert status_of(handoff) == (Status.ASSIGNED, offline_agent.pk)


@pytest.mark.django_db(transaction=True)
def test_a_burst_is_assigned_in_one_loop_not_by_recursion(auto, bot, agent):
    """Each assignment's own hooks call routing again; that call leaves the work to the loop
    already running (else: one nested call per assignment, and a RecursionError)."""
    configure(agent, capacity=0)
    set_online(agent=agent, online=False)
    for _ in range(150):
        queued(bot)

    set_online(agent=agent, online=True)

    # At most ASSIGN_LIMIT per call, to bound the request that set it off; the worker's next
    # pass goes on.
    assert open_count(agent) == ASSIGN_LIMIT
    worker.run_once()
    assert open_count(agent) == 150
    assert all(len(assigned_events(h)) == 1 for h in Handoff.objects.all())
