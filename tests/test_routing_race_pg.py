"""Auto-assignment under real concurrency, on PostgreSQL: handoffs created by several
processes at once while agents go online and resolve, and two workers sweep. No agent ever
goes past capacity, no handoff is assigned twice, and the queue drains as far as room allows.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from django.db import connection, transaction
from django.db.models import Count

from agents.models import AgentProfile
from handoffs import services
from handoffs.models import Handoff
from handoffs.services import start_handoff
from routing.services import assign_next
from tests.factories import UserFactory
from tests.workers import BASE_DIR, current_database_url, start_worker, stop, wait_for
from webhooks.models import Event

pytestmark = pytest.mark.django_db(transaction=True)

CAPACITY = 3
AGENTS = 5
CREATORS = 4
PER_CREATOR = 15  # 60 handoffs
RESOLVES_PER_GROUP = 6
ENV = {"HITLNEXT_ASSIGNMENT": "auto", "HITLNEXT_AGENT_CAPACITY": str(CAPACITY)}


@pytest.fixture(autouse=True)
def postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL (set DATABASE_URL): SQLite takes one writer at a time "
            "(BEGIN IMMEDIATE), so these processes cannot race there"
        )


def spawn(*args: str) -> subprocess.Popen:
    env = os.environ | {"DATABASE_URL": current_database_url(), "LOG_LEVEL": "WARNING"} | ENV
    return subprocess.Popen(
        [sys.executable, "-m", "tests.routing_race", *args],
        cwd=BASE_DIR,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def loads() -> dict[int, int]:
    """Open handoffs per agent, read in one statement (one snapshot)."""
    return dict(
        Handoff.objects.filter(status=Handoff.Status.ASSIGNED)
        .values("agent")
        .annotate(n=Count("pk"))
        .values_list("agent", "n")
    )


def assignments_per_handoff() -> Counter:
    return Counter(
        Event.objects.filter(type="handoff.assigned").values_list("data__handoff__id", flat=True)
    )


def test_concurrent_creations_presence_and_resolves_never_overfill_an_agent(bot):
    users = [UserFactory(username=f"racer{n}", online=False) for n in range(AGENTS)]
    processes = [
        spawn("create", str(bot.pk), str(n * PER_CREATOR), str(PER_CREATOR))
        for n in range(CREATORS)
    ]
    processes.append(spawn("agents", str(RESOLVES_PER_GROUP), *(str(u.pk) for u in users[:3])))
    processes.append(spawn("agents", str(RESOLVES_PER_GROUP), *(str(u.pk) for u in users[3:])))
    workers = [start_worker(**ENV), start_worker(**ENV)]
    try:
        for process in processes:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready", process.stderr
        for process in processes:  # all at once
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()

        # Watch the database while they race: a snapshot after every step of anyone.
        highest, looks = 0, 0
        while any(p.poll() is None for p in processes):
            current = loads()
            highest = max([highest, *current.values()])
            assert highest <= CAPACITY, current
            assert max(assignments_per_handoff().values(), default=0) <= 1
            looks += 1
            time.sleep(0.01)
        for process in processes:
            out, err = process.communicate(timeout=60)
            assert process.returncode == 0, err
        assert looks > 10

        # The sweeps and hooks settle: the queue is empty or every agent is full.
        def settled() -> bool:
            pending = Handoff.objects.filter(status=Handoff.Status.PENDING).count()
            return pending == 0 or sorted(loads().values()) == [CAPACITY] * AGENTS

        wait_for(settled, what="the queue to drain as far as capacity allows", seconds=30)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
        for worker_process in workers:
            code, _, err = stop(worker_process)
            assert "Traceback" not in err, err

    statuses = Counter(Handoff.objects.values_list("status", flat=True))
    resolved = 2 * RESOLVES_PER_GROUP
    assert sum(statuses.values()) == CREATORS * PER_CREATOR
    assert statuses["resolved"] == resolved
    assert statuses["assigned"] == AGENTS * CAPACITY
    assert statuses["pending"] == CREATORS * PER_CREATOR - resolved - AGENTS * CAPACITY
    assert max(loads().values()) == CAPACITY
    # Each handoff taken at most once, and every taken one exactly once, by routing.
    per_handoff = assignments_per_handoff()
    taken = set(Handoff.objects.exclude(status=Handoff.Status.PENDING).values_list("pk", flat=True))
    assert set(per_handoff) == taken and set(per_handoff.values()) == {1}
    assert set(
        Event.objects.filter(type="handoff.assigned").values_list("data__assigned_by", flat=True)
    ) == {"auto"}
    assert AgentProfile.objects.filter(online=True).count() == AGENTS


def test_routing_recounts_after_a_person_assigns_at_the_same_moment(settings, bot, agent):
    """ "Assign to me" commits while routing has already chosen the same agent from a count
    taken before it: routing waits on the agent's profile lock, counts again, and stops."""
    settings.HITLNEXT_ASSIGNMENT = "auto"
    settings.HITLNEXT_AGENT_CAPACITY = 3
    AgentProfile.objects.filter(user=agent).update(online=False)
    for n in range(4):
        start_handoff(bot=bot, conversation_id=f"c-{n}", user_id=f"u-{n}", channel="web")
    head, second, by_hand, spare = Handoff.objects.order_by("created_at", "pk")
    Handoff.objects.filter(pk__in=[second.pk, spare.pk]).update(
        status=Handoff.Status.ASSIGNED, agent=agent
    )
    AgentProfile.objects.filter(user=agent).update(online=True)  # 2 of 3, unannounced
    holding, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def person() -> None:
        try:
            with transaction.atomic():  # commits only once routing is waiting
                services.assign_handoff(handoff=by_hand, agent=agent)
                holding.set()
                assert release.wait(timeout=30)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def routing() -> None:
        try:
            assign_next()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    person_thread = threading.Thread(target=person)
    person_thread.start()
    assert holding.wait(timeout=30)
    routing_thread = threading.Thread(target=routing)
    routing_thread.start()
    wait_for(lambda: waiting_on_a_lock() > 0, what="routing to wait on the agent's lock")
    release.set()
    person_thread.join(timeout=30)
    routing_thread.join(timeout=30)

    assert not errors, errors
    assert loads() == {agent.pk: 3}
    assert Handoff.objects.get(pk=head.pk).status == Handoff.Status.PENDING


def waiting_on_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return cursor.fetchone()[0]
