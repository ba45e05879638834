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
from django.db import connection, connections, transaction
from django.utils import timezone
from django.utils.crypto import get_random_string

from agents.models import AgentProfile
from conversations.models import Bot, Conversation, EndUser
from handoffs.models import Handoff, Label
from handoffs.services import start_handoff

BATCH = 5000  # rows per INSERT for the agents


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


def database_name(database_url: str) -> str:
    return urlsplit(database_url).path.lstrip("/")


def with_name(database_url: str, name: str) -> str:
    return urlunsplit(urlsplit(database_url)._replace(path=f"/{name}"))


def add_alias(alias: str, database_url: str) -> None:
    """Another database for the ORM, like "default" but named differently. Call right after
    django.setup(), before any query (Django reads the aliases once)."""
    from django.conf import settings

    settings.DATABASES[alias] = {
        **settings.DATABASES["default"],
        "NAME": database_name(database_url),
    }
    settings.DATABASES[alias]["OPTIONS"] = dict(settings.DATABASES["default"].get("OPTIONS", {}))


def clone_database(database_url: str, clone_url: str) -> None:
    """A copy of the benchmark's database (CREATE DATABASE ... TEMPLATE): the same bot, agents
    and sessions, ready at once. The source must have no open connection."""
    connection.close()  # back to the pool, then the pool closes: the template must be idle
    connection.close_pool()
    source, name = database_name(database_url), database_name(clone_url)
    if not name.replace("_", "").isalnum():
        raise SystemExit(f"refusing odd database name {name!r}")
    admin_url = urlunsplit(urlsplit(database_url)._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')


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


def _next_ids(model, using: str, count: int) -> range:
    """Primary keys for `count` new rows, reserved from the table's own sequence."""
    table = connections[using].ops.quote_name(model._meta.db_table)
    column = model._meta.pk.column
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence(%s, %s), "
            f"COALESCE((SELECT MAX({column}) FROM {table}), 0) + %s)",
            [model._meta.db_table, column, count],
        )
        last = cursor.fetchone()[0]
    return range(last - count + 1, last + 1)


def _copy(model, objs: list, using: str) -> None:
    """COPY the objects in (pks already set): several times faster than INSERTs for 100k rows.
    Every concrete field is written through the field's own conversion, defaults included."""
    conn = connections[using]
    fields = model._meta.concrete_fields
    columns = ", ".join(conn.ops.quote_name(f.column) for f in fields)
    sql = f"COPY {conn.ops.quote_name(model._meta.db_table)} ({columns}) FROM STDIN"
    with conn.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for obj in objs:
            copy.write_row([f.get_db_prep_save(f.pre_save(obj, add=True), conn) for f in fields])


def grow_inbox(bot: Bot, *, total: int, assignees: list[int], using: str = "default") -> int:
    """Add inbox handoffs (each in its own conversation) to the database `using` until there
    are `total`; returns how many were added. Older rows get older timestamps, a minute apart.
    Relations are set by id: the bot instance comes from another database alias."""
    have = (
        Handoff.objects.using(using).filter(conversation__external_id__startswith="inbox-").count()
    )
    labels = list(Label.objects.using(using).all()) or Label.objects.using(using).bulk_create(
        [Label(name=f"bench-{n}") for n in range(5)]
    )
    now = timezone.now()
    count = max(0, total - have)
    numbers = range(have, total)
    with transaction.atomic(using=using):
        user_ids = _next_ids(EndUser, using, count)
        conversation_ids = _next_ids(Conversation, using, count)
        handoff_ids = _next_ids(Handoff, using, count)
        _copy(
            EndUser,
            [
                EndUser(
                    pk=pk,
                    bot_id=bot.pk,
                    external_id=f"inbox-u-{i}",
                    variables={"fullName": f"Inbox User {i}", "plan": "pro"},
                )
                for i, pk in zip(numbers, user_ids, strict=True)
            ],
            using,
        )
        _copy(
            Conversation,
            [
                Conversation(
                    pk=pk,
                    bot_id=bot.pk,
                    external_id=f"inbox-c-{i}",
                    end_user_id=user_id,
                    channel="whatsapp",
                    last_message_at=now - timedelta(minutes=i),
                )
                for i, pk, user_id in zip(numbers, conversation_ids, user_ids, strict=True)
            ],
            using,
        )
        handoffs = []
        for i, pk, conversation_id in zip(numbers, handoff_ids, conversation_ids, strict=True):
            status = _status(i)
            at = now - timedelta(minutes=i + 1)
            handoffs.append(
                Handoff(
                    pk=pk,
                    bot_id=bot.pk,
                    conversation_id=conversation_id,
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
                    closed_at=at if status in Handoff.TERMINAL else None,
                    last_user_message=f"Where is my order {i}? It was due last week.",
                    last_activity_at=at,
                )
            )
        _copy(Handoff, handoffs, using)
        Through = Handoff.labels.through
        tagged = [h for n, h in enumerate(handoffs) if n % 10 == 0]
        _copy(
            Through,
            [
                Through(pk=pk, handoff_id=h.pk, label_id=labels[n % len(labels)].pk)
                for n, (h, pk) in enumerate(
                    zip(tagged, _next_ids(Through, using, len(tagged)), strict=True)
                )
            ],
            using,
        )
    with connections[using].cursor() as cursor:
        cursor.execute("ANALYZE")  # as autovacuum would have, on a table that grew slowly
    return count


def create_conversations(bot: Bot, prefix: str, count: int) -> list[int]:
    """`count` new conversations (each with its end user) of the bot, as the API would make
    them; their ids, in order."""
    users = EndUser.objects.bulk_create(
        [
            EndUser(bot=bot, external_id=f"{prefix}-u{n}", variables={"fullName": f"User {n}"})
            for n in range(count)
        ],
        batch_size=BATCH,
    )
    conversations = Conversation.objects.bulk_create(
        [
            Conversation(bot=bot, external_id=f"{prefix}-{n}", end_user=user, channel="web")
            for n, user in enumerate(users)
        ],
        batch_size=BATCH,
    )
    return [c.pk for c in conversations]


def queue_handoffs(bot: Bot, prefix: str, count: int) -> None:
    """`count` pending handoffs in new conversations, oldest first, written without any
    announcement: nothing routes them until a worker's sweep finds them."""
    now = timezone.now()
    Handoff.objects.bulk_create(
        [
            Handoff(
                bot=bot,
                conversation_id=conversation_id,
                language=bot.default_language,
                created_at=now + timedelta(microseconds=n),
                last_activity_at=now,
            )
            for n, conversation_id in enumerate(create_conversations(bot, prefix, count))
        ],
        batch_size=BATCH,
    )
