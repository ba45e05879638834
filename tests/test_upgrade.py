"""Upgrading from the previous release: a database made and filled by that release's schema is
migrated by `manage.py migrate` without losing or altering a row, and the current code works
on it (the inbox, the services, the API, a login, the worker).

The previous release is the last commit of the first round, 5ebc1b2 ("README: the stack and
the reason for each addition", 2026-11-26), before the restructure (b72932c, issue #10)
split the apps. tests/test_migrate_old_layout.py checks that layout move forth and back on
the test database, one row per table; here a fresh database is built forward to that release
(as it was installed), filled with every kind of row in every state, and upgraded as an
operator does. Each test runs on its own throwaway database (tests/scratch_database.py).
"""

from __future__ import annotations

import io
import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.apps import apps as current_apps
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.management import call_command
from django.core.management.sql import emit_post_migrate_signal
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.state import StateApps
from django.test import Client
from django.utils import timezone

from conversations.keys import hash_api_key
from conversations.models import Bot
from handoffs.models import Handoff
from handoffs.services import resolve_handoff
from tests.api_support import BotApi
from tests.scratch_database import scratch_database
from webhooks.delivery import claim_due

pytestmark = pytest.mark.django_db(transaction=True)

# The latest migration of each app at 5ebc1b2. The webhooks, api, reports (and later) apps
# did not exist yet; Django's own apps were at the same Django 5.2, so at their latest nodes.
PREVIOUS_RELEASE = {
    "conversations": "0005_encrypt_webhook_secrets",
    "handoffs": "0002_default_system_messages",
    "agents": "0001_initial",
}
DJANGO_APPS = {"admin", "auth", "contenttypes", "sessions"}
# Tables left empty here; tests/test_migrate_old_layout.py fills the admin log and groups.
DJANGO_ONLY = {
    "django_admin_log",
    "django_session",
    "auth_group",
    "auth_group_permissions",
    "auth_user_groups",
    "auth_user_user_permissions",
}

API_KEY = "hk_previous-release-key-0123456789abcdefghijklmno"
SECRET = "whsec_cHJldmlvdXMgcmVsZWFzZSBzZWNyZXQgMDEyMzQ1Njc4OWFi"
PASSWORD = "correct-horse-battery"
Status = Handoff.Status
STATUSES = ["pending", "assigned", "resolved", "rejected", "expired"]  # the release's choices


def install_previous_release() -> StateApps:
    """A new database migrated to the previous release's nodes, as its `manage.py migrate`
    left it (content types and permissions included); returns that release's models."""
    executor = MigrationExecutor(connection)
    graph = executor.loader.graph
    targets = [(app, name) for app, name in graph.leaf_nodes() if app in DJANGO_APPS]
    executor.migrate([*targets, *PREVIOUS_RELEASE.items()])
    executor.loader.build_graph()
    applied = set(executor.loader.applied_migrations)
    assert {app for app, _ in applied} == DJANGO_APPS | set(PREVIOUS_RELEASE)
    assert not applied & {("conversations", "0006_move_outbox_and_idempotency")}
    old_apps = executor.loader.project_state(sorted(applied)).apps
    emit_post_migrate_signal(0, False, connection.alias, apps=old_apps, plan=[])
    return old_apps


def fill(apps: StateApps) -> SimpleNamespace:
    """Every kind of row the previous release stored, in each of its states, written through
    that release's models."""
    now = timezone.now()
    get = apps.get_model
    User_ = get(settings.AUTH_USER_MODEL)
    Profile = get("agents", "AgentProfile")
    alice = User_.objects.create(
        username="alice", first_name="Alice", last_name="Martin", password=make_password(PASSWORD)
    )
    bob = User_.objects.create(username="bob", first_name="Bob", password=make_password("x"))
    admin = User_.objects.create(
        username="root", is_staff=True, is_superuser=True, password=make_password("y")
    )
    later = now + timedelta(hours=1)
    Profile.objects.create(
        user=alice, online=True, session_expires_at=later, avatar="avatars/a.png"
    )
    Profile.objects.create(user=bob, online=False)

    bot = get("conversations", "Bot").objects.create(
        name="Support bot",
        api_key_hash=hash_api_key(API_KEY),
        api_key_hint=API_KEY[:7],
        webhook_url="https://bot.example.com/hooks",
        webhook_secret=SECRET,  # the release's field encrypts it on save
        default_language="fr",
    )
    chat = get("conversations", "Bot").objects.create(
        name="Web chat", api_key_hash="b" * 64, api_key_hint="hk_webc", is_webchat=True
    )
    Label = get("handoffs", "Label")
    billing = Label.objects.create(name="billing", color="#2563eb")
    vip = Label.objects.create(name="vip")

    EndUser = get("conversations", "EndUser")
    Conversation = get("conversations", "Conversation")
    Message = get("conversations", "Message")
    Handoff_ = get("handoffs", "Handoff")
    handoffs = {}
    for n, status in enumerate(STATUSES):
        user = EndUser.objects.create(
            bot=bot,
            external_id=f"user-{n}",
            variables={"fullName": f"User {n}", "plan": "gold", "address": {"city": "Lyon"}},
        )
        conversation = Conversation.objects.create(
            bot=bot, external_id=f"thread-{n}", end_user=user, channel="whatsapp"
        )
        incoming = Message.objects.create(
            conversation=conversation,
            external_id=f"m-{n}",
            direction="incoming",
            text=f"Help with {status}",
            payload={"type": "text"},
            created_at=now - timedelta(minutes=30 - n),
        )
        Message.objects.create(
            conversation=conversation,
            direction="outgoing",
            text="Connecting you to a person",
            created_at=now - timedelta(minutes=29 - n),
        )
        conversation.last_message_at = incoming.created_at
        conversation.save()
        handled = status in {Status.ASSIGNED, Status.RESOLVED}
        handoff = Handoff_.objects.create(
            bot=bot,
            conversation=conversation,
            status=status,
            agent=alice if handled else None,
            language="fr",
            timeout_seconds=600 if status in {Status.PENDING, Status.EXPIRED} else 0,
            created_at=now - timedelta(minutes=28 - n),
            assigned_at=now if handled else None,
            resolved_at=now if status == Status.RESOLVED else None,
            closed_at=None if status in {Status.PENDING, Status.ASSIGNED} else now,
            expires_at=later if status == Status.PENDING else None,
            last_user_message=f"Help with {status}",
        )
        handoff.labels.set([billing, vip] if handled else [billing])
        handoffs[status] = handoff
        if handled:
            Message.objects.create(
                conversation=conversation,
                handoff=handoff,
                direction="agent",
                author=alice,
                text="Hello, I am Alice",
            )
            Message.objects.create(
                conversation=conversation, handoff=handoff, direction="system", text="Alice joined"
            )
            get("conversations", "Note").objects.create(
                conversation=conversation, handoff=handoff, author=alice, text=f"Note on {status}"
            )
            get("handoffs", "HandoffRead").objects.create(agent=alice, conversation=conversation)

    visitor = EndUser.objects.create(bot=chat, external_id="visitor-1")
    Conversation.objects.create(bot=chat, external_id="chat-1", end_user=visitor, channel="web")
    get("handoffs", "MessageTemplate").objects.create(
        name="greeting", text="Hello {{user.fullName}}, {{agent.firstName}} here"
    )
    SystemMessage = get("handoffs", "SystemMessage")
    SystemMessage.objects.filter(kind="assign", language="en").update(
        text="{{agentName}} is with you (our wording)"
    )
    get("handoffs", "ConversationDeletion").objects.create(
        conversation_ref="thread-old", bot_name=bot.name, message_count=3, deleted_by=admin
    )

    assigned = handoffs[Status.ASSIGNED]
    Event = get("conversations", "Event")
    Delivery = get("conversations", "Delivery")
    deliveries = {}
    for seq, delivery_status in enumerate(["delivered", "failed", "disabled", "pending"], 1):
        event = Event.objects.create(
            public_id=f"evt_{delivery_status}",
            bot=bot,
            conversation=assigned.conversation,
            type="message.created",
            data={"handoff_id": assigned.pk, "text": "Hello, I am Alice"},
            feed_seq=seq if delivery_status != "pending" else None,  # not sequenced yet
        )
        deliveries[delivery_status] = Delivery.objects.create(
            event=event,
            bot=bot,
            conversation=assigned.conversation,
            status=delivery_status,
            attempts=3,
            next_attempt_at=now - timedelta(seconds=5),
            last_attempt_at=now - timedelta(minutes=1),
            last_status_code=200 if delivery_status == "delivered" else 503,
            last_error="" if delivery_status == "delivered" else "HTTP 503",
            delivered_at=now if delivery_status == "delivered" else None,
        )
    get("conversations", "IdempotencyRecord").objects.create(
        bot=bot, key="order-42", request_hash="f" * 64, status_code=201, body={"id": 42}
    )
    return SimpleNamespace(
        alice=alice.pk,
        bob=bob.pk,
        bot=bot.pk,
        handoffs={status: h.pk for status, h in handoffs.items()},
        labels={billing.pk, vip.pk},
        pending_delivery=deliveries["pending"].pk,
    )


def tables(apps) -> dict[str, list[dict]]:
    """Every row of every table these models have, by table name, as stored."""
    result = {}
    for model in apps.get_models(include_auto_created=True):
        if model._meta.managed and not model._meta.proxy:
            result[model._meta.db_table] = list(model._base_manager.order_by("pk").values())
    return result


# Tables the upgrade adds rows to, after the existing ones: the content types and permissions
# of the models added since, and the Supervisors group (agents 0003).
GROWS = {"django_content_type", "auth_permission", "auth_group", "auth_group_permissions"}
# The restructure moved these models out of conversations; their content types (and so their
# permissions and admin history) are the same rows, relabelled (tests/test_migrate_old_layout).
MOVED = {"event": "webhooks", "delivery": "webhooks", "idempotencyrecord": "api"}


def kept(before: dict[str, list[dict]], after: dict[str, list[dict]]) -> dict:
    """`after`, restricted to the tables and columns `before` has (later migrations add their
    own), and to the rows it had in the tables that grow; asserts those columns are all still
    there."""
    restricted = {}
    for table, rows in before.items():
        assert table in after, f"{table} is gone"
        columns = set(rows[0]) if rows else set()
        assert all(columns <= set(row) for row in after[table]), table
        now = after[table][: len(rows)] if table in GROWS else after[table]
        restricted[table] = [{k: v for k, v in row.items() if k in columns} for row in now]
    return restricted


def upgraded(before: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """`before` as the upgrade must leave it: the moved models' content types relabelled."""
    moved = [
        row | {"app_label": MOVED[row["model"]]}
        if row["app_label"] == "conversations" and row["model"] in MOVED
        else row
        for row in before["django_content_type"]
    ]
    return before | {"django_content_type": moved}


def upgrade() -> str:
    out = io.StringIO()
    call_command("migrate", interactive=False, stdout=out)  # what the operator runs
    return out.getvalue()


def assert_current_code_works_on(old: SimpleNamespace) -> None:
    bot = Bot.objects.get(pk=old.bot)
    assert bot.webhook_secret == SECRET
    handoffs = {h.status: h for h in Handoff.objects.filter(pk__in=old.handoffs.values())}
    assert {status: h.pk for status, h in handoffs.items()} == old.handoffs
    assigned = handoffs[Status.ASSIGNED]
    assert assigned.agent_id == old.alice and assigned.priority == Handoff.Priority.NORMAL
    assert {label.pk for label in assigned.labels.all()} == old.labels
    assert assigned.conversation.end_user.variables["address"] == {"city": "Lyon"}
    assert [m.direction for m in assigned.conversation.messages.all()] == [
        "incoming",
        "outgoing",
        "agent",
        "system",
    ]
    assert [n.text for n in assigned.notes.all()] == ["Note on assigned"]

    # The agent logs in with the password of the previous release and sees the inbox.
    client = Client()
    assert client.login(username="alice", password=PASSWORD)
    everything = "?status=unassigned&status=mine&status=others&status=resolved&status=rejected"
    page = client.get("/" + everything + "&status=expired")
    assert page.status_code == 200
    shown = {int(pk) for pk in re.findall(r'id="handoff-(\d+)"', page.content.decode())}
    assert shown == set(old.handoffs.values())
    assert client.get(f"/handoffs/{assigned.pk}/").status_code == 200

    # The bot's API key still opens the API, which answers with the migrated handoff.
    api = BotApi(Client(), API_KEY)
    answer = api.get(f"/handoffs/{assigned.pk}")
    assert answer.status_code == 200, answer.content
    assert (answer.json()["status"], answer.json()["agent"]["id"]) == ("assigned", old.alice)
    assert api.get("/events").status_code == 200

    # The worker picks up the pending delivery, with the secret it signs with.
    claims = claim_due(limit=10)
    assert [claim.delivery.pk for claim in claims] == [old.pending_delivery]
    assert claims[0].delivery.bot.webhook_secret == SECRET

    # The services go on from where the previous release stopped.
    agent = assigned.agent
    resolved = resolve_handoff(handoff=assigned, agent=agent)
    assert resolved.status == Status.RESOLVED and resolved.agent_id == old.alice


def test_upgrade_from_the_previous_release_keeps_every_row_and_the_product_works(tmp_path):
    with scratch_database(tmp_path):
        old_apps = install_previous_release()
        old = fill(old_apps)
        before = tables(old_apps)
        empty = {table for table, rows in before.items() if not rows}
        assert empty <= DJANGO_ONLY, "every table of the release holds rows to compare"

        output = upgrade()

        assert "Applying webhooks.0001_initial" in output
        executor = MigrationExecutor(connection)
        assert executor.migration_plan(executor.loader.graph.leaf_nodes()) == []
        after = tables(current_apps)
        assert kept(before, after) == upgraded(before)
        assert_current_code_works_on(old)


def test_a_backup_of_the_previous_release_restores_and_is_migrated(tmp_path, settings):
    """Going back to a backup taken before an upgrade, with the new code installed."""
    settings.MEDIA_ROOT = tmp_path / "media"
    path = tmp_path / "before-upgrade.tar"
    with scratch_database(tmp_path):
        old_apps = install_previous_release()
        old = fill(old_apps)
        before = tables(old_apps)
        call_command("backup", str(path), stdout=io.StringIO())

    with scratch_database(tmp_path):
        call_command("migrate", verbosity=0)  # the new version, freshly installed
        out = io.StringIO()
        call_command("restore", str(path), stdout=out)

        assert "It came from an older version" in out.getvalue()
        assert "webhooks.0001_initial" in out.getvalue()
        after = tables(current_apps)
        assert kept(before, after) == upgraded(before)
        assert_current_code_works_on(old)
