"""A process of the auto-assignment race (tests/test_routing_race_pg.py).

    python -m tests.routing_race create BOT_ID FIRST COUNT
    python -m tests.routing_race agents RESOLVES USER_ID...

Each prints "ready" once Django is set up, waits for a line on stdin (all start together),
does its part through the real services (so the routing hooks run in this process, after
each commit) and checks after every step that no agent is past capacity.
"""

from __future__ import annotations

import os
import random
import sys
import time


def over_capacity(capacity: int) -> list[tuple[int, int]]:
    from django.db.models import Count

    from handoffs.models import Handoff

    return list(
        Handoff.objects.filter(status=Handoff.Status.ASSIGNED)
        .values("agent")
        .annotate(n=Count("pk"))
        .filter(n__gt=capacity)
        .values_list("agent", "n")
    )


def check(capacity: int, step: str) -> None:
    found = over_capacity(capacity)
    if found:
        sys.exit(f"after {step}: agents past capacity {capacity}: {found}")


def create(bot_id: int, first: int, count: int, capacity: int) -> None:
    from conversations.models import Bot
    from handoffs.services import start_handoff

    bot = Bot.objects.get(pk=bot_id)
    for n in range(first, first + count):
        start_handoff(
            bot=bot,
            conversation_id=f"race-{n}",
            user_id=f"race-user-{n}",
            channel="web",
            priority="high" if n % 4 == 0 else "normal",
        )
        check(capacity, f"creating race-{n}")
        time.sleep(random.uniform(0, 0.03))


def agents(resolves: int, user_ids: list[int], capacity: int) -> None:
    from django.contrib.auth.models import User

    from agents.services import set_online
    from handoffs.models import Handoff
    from handoffs.services import resolve_handoff

    users = list(User.objects.filter(pk__in=user_ids).order_by("pk"))
    for user in users:
        set_online(agent=user, online=True)
        check(capacity, f"{user.username} going online")
        time.sleep(random.uniform(0.05, 0.2))
    done = 0
    deadline = time.monotonic() + 60
    while done < resolves and time.monotonic() < deadline:
        user = random.choice(users)
        handoff = Handoff.objects.filter(agent=user, status=Handoff.Status.ASSIGNED).first()
        if handoff is None:
            time.sleep(0.02)
            continue
        resolve_handoff(handoff=handoff, agent=user)
        done += 1
        check(capacity, f"{user.username} resolving #{handoff.pk}")
        time.sleep(random.uniform(0, 0.05))
    if done < resolves:
        sys.exit(f"resolved only {done} of {resolves}")


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hitlnext_project.settings")
    import django

    django.setup()
    from django.conf import settings

    assert settings.HITLNEXT_ASSIGNMENT == "auto"
    capacity = settings.HITLNEXT_AGENT_CAPACITY
    print("ready", flush=True)
    sys.stdin.readline()
    role, *args = argv
    if role == "create":
        bot_id, first, count = map(int, args)
        create(bot_id, first, count, capacity)
    elif role == "agents":
        resolves, *user_ids = map(int, args)
        agents(resolves, user_ids, capacity)
    else:
        sys.exit(f"unknown role {role}")
    print("done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
