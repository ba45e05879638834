"""The benchmark's own PostgreSQL database and its rows, built fast (bulk inserts).

Import after django.setup(): these use the ORM and the services.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import psycopg
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone
from django.utils.crypto import get_random_string

from agents.models import AgentProfile
from conversations.models import Bot, Conversation, EndUser
from handoffs.models import Handoff, Label
from handoffs.services import start_handoff

BATCH = 5000


def recreate_database(database_url: str) -> None:
    """Drop and create the benchmark's database (never anything else: the name is checked)."""
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    if not name or not name.replace("_", "").isalnum():
        raise SystemExit(f"refusing odd database name {name!r}")
    admin_url = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def migrate() -> None:
    call_command("migrate", verbosity=0, interactive=False)


@dataclass(frozen=True)
class Agent:
    user_id: int
    session_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Cookie": f"sessionid={self.session_key}"}


def create_bot() -> tuple[Bot, str]:
    bot = Bot(name="Bench bot")
    api_key = bot.set_new_api_key()
    bot.set_new_webhook_secret()
    bot.save()  # no webhook URL: the bench measures serving, not delivery
    return bot, api_key


def create_agents(count: int) -> list[Agent]:
    """Agents with a logged-in session each (as after the login form), offline."""
    User = get_user_model()
    users = []
    for n in range(count):
        user = User(username=f"bench{n:04d}", first_name="Bench", last_name=f"Agent {n}")
        user.set_unusable_password()  # hashing 1,000 real passwords would take minutes
        users.append(user)
    users = User.objects.bulk_create(users, batch_size=BATCH)
    AgentProfile.objects.bulk_create([AgentProfile(user=u) for u in users], batch_size=BATCH)
    expires = timezone.now() + timedelta(days=1)
    store = SessionStore()
    sessions = [
        Session(
            session_key=get_random_string(32),
            session_data=store.encode(
                {
                    SESSION_KEY: str(user.pk),
                    BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                    HASH_SESSION_KEY: user.get_session_auth_hash(),
                }
            ),
            expire_date=expires,
        )
        for user in users
    ]
    Session.objects.bulk_create(sessions, batch_size=BATCH)
    return [Agent(u.pk, s.session_key) for u, s in zip(users, sessions, strict=True)]


def open_handoff(bot: Bot, conversation_id: str) -> Handoff:
    handoff, _ = start_handoff(
        bot=bot,
        conversation_id=conversation_id,
        user_id=f"user-{conversation_id}",
        channel="web",
        user_variables={"fullName": f"User {conversation_id}"},
    )
    return handoff


# Per 100 handoffs: 2 pending, 3 assigned, 5 rejected, 5 expired, 85 resolved. The same mix at
# every size, so the default inbox (unassigned + mine) also grows with the table.
def _status(i: int) -> str:
    slot = i % 100
    if slot < 2:
        return Handoff.Status.PENDING
    if slot < 5:
        return Handoff.Status.ASSIGNED
    if slot < 10:
        return Handoff.Status.REJECTED
    if slot < 15:
        return Handoff.Status.EXPIRED
    return Handoff.Status.RESOLVED


def grow_inbox(bot: Bot, *, total: int, assignees: list[int]) -> int:
    """Add inbox handoffs (each in its own conversation) until there are `total`; returns how
    many were added. Older rows get older timestamps, one minute apart."""
    have = Handoff.objects.filter(conversation__external_id__startswith="inbox-").count()
    labels = list(Label.objects.all()) or Label.objects.bulk_create(
        [Label(name=f"bench-{n}") for n in range(5)]
    )
    now = timezone.now()
    for start in range(have, total, BATCH):
        stop = min(start + BATCH, total)
        with transaction.atomic():
            users = EndUser.objects.bulk_create(
                [
                    EndUser(
                        bot=bot,
                        external_id=f"inbox-u-{i}",
                        variables={"fullName": f"Inbox User {i}", "plan": "pro"},
                    )
                    for i in range(start, stop)
                ]
            )
            conversations = Conversation.objects.bulk_create(
                [
                    Conversation(
                        bot=bot,
                        external_id=f"inbox-c-{i}",
                        end_user=user,
                        channel="whatsapp",
                        last_message_at=now - timedelta(minutes=i),
                    )
                    for i, user in zip(range(start, stop), users, strict=True)
                ]
            )
            handoffs = []
            for i, conversation in zip(range(start, stop), conversations, strict=True):
                status = _status(i)
                at = now - timedelta(minutes=i + 1)
                terminal = status in Handoff.TERMINAL
                handoffs.append(
                    Handoff(
                        bot=bot,
                        conversation=conversation,
                        status=status,
                        agent_id=(
                            assignees[i % len(assignees)]
                            if status in (Handoff.Status.ASSIGNED, Handoff.Status.RESOLVED)
                            else None
                        ),
                        language="en",
                        created_at=at,
                        assigned_at=at if status != Handoff.Status.PENDING else None,
                        resolved_at=at if status == Handoff.Status.RESOLVED else None,
                        closed_at=at if terminal else None,
                        last_user_message=f"Where is my order {i}? It was due last week.",
                        last_activity_at=at,
                    )
                )
            handoffs = Handoff.objects.bulk_create(handoffs)
            Handoff.labels.through.objects.bulk_create(
                [
                    Handoff.labels.through(handoff=h, label=labels[i % len(labels)])
                    for i, h in enumerate(handoffs)
                    if i % 10 == 0
                ]
            )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # as autovacuum would have, on a table that grew slowly
    return max(0, total - have)
