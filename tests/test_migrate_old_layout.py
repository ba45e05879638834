"""A database filled under the old layout (Event, Delivery and IdempotencyRecord in the
conversations app) migrates to the new one (webhooks, api) without losing a row, and back.

The tests run the real migrations with MigrationExecutor: the database is taken back to the
old layout's nodes, filled through the models of that state, then migrated. Whatever happens,
the database is left migrated to the latest nodes (the `executor` fixture), and the
transactional test's flush then empties it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.apps import apps as current_apps
from django.conf import settings
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.state import StateApps
from django.utils import timezone

from api.models import IdempotencyRecord
from conversations.models import Bot, Conversation, EndUser, Message, Note
from handoffs.models import Handoff
from tests.factories import (
    BotFactory,
    ConversationFactory,
    HandoffFactory,
    LabelFactory,
    MessageFactory,
    UserFactory,
)
from webhooks.delivery import claim_due
from webhooks.models import Delivery, Event

pytestmark = pytest.mark.django_db(transaction=True)

# The last migrations before the move; apps absent here stay at their latest node.
OLD_LAYOUT = {
    "webhooks": None,
    "api": None,
    "conversations": "0005_encrypt_webhook_secrets",
    "handoffs": "0002_default_system_messages",
    "agents": "0001_initial",
}
MOVED = {"event": "webhooks", "delivery": "webhooks", "idempotencyrecord": "api"}

# Every table the move touches or must leave alone: the model's label now, and in the old
# layout ("app.Model.field" is a many-to-many table).
TABLES = {
    "webhooks.Event": "conversations.Event",
    "webhooks.Delivery": "conversations.Delivery",
    "api.IdempotencyRecord": "conversations.IdempotencyRecord",
    **{
        label: label
        for label in [
            "conversations.Bot",
            "conversations.EndUser",
            "conversations.Conversation",
            "conversations.Message",
            "conversations.Note",
            "handoffs.Label",
            "handoffs.Handoff",
            "handoffs.Handoff.labels",
            "handoffs.SystemMessage",
            "agents.AgentProfile",
            "auth.User",
            "auth.User.groups",
            "auth.Group",
            "auth.Group.permissions",
            "auth.Permission",
            "admin.LogEntry",
        ]
    },
}

SECRET = "whsec_old-layout-secret-0123456789abcdef"


@pytest.fixture
def executor(transactional_db) -> Iterator[MigrationExecutor]:
    """A migration executor; the database ends at the latest nodes whatever the test did, so
    the flush and the tests after this one see the schema they expect."""
    executor = MigrationExecutor(connection)
    try:
        yield executor
    finally:
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
        ContentType.objects.clear_cache()


def migrate(executor: MigrationExecutor, targets: list[tuple[str, str | None]]) -> StateApps:
    """Migrate to `targets`; returns the models as the migrations now applied define them."""
    executor.loader.build_graph()  # the applied set may have changed since the last plan
    executor.migrate(targets)
    executor.loader.build_graph()
    # Cached content types still carry the app label they had before the migration.
    ContentType.objects.clear_cache()
    graph = executor.loader.graph
    applied = [key for key in executor.loader.applied_migrations if key in graph.nodes]
    return executor.loader.project_state(applied).apps


def to_old_layout(executor: MigrationExecutor) -> StateApps:
    old_apps = migrate(executor, list(OLD_LAYOUT.items()))
    applied = executor.loader.applied_migrations
    assert ("webhooks", "0001_initial") not in applied
    assert ("api", "0001_initial") not in applied
    assert ("conversations", "0006_move_outbox_and_idempotency") not in applied
    return old_apps


def to_latest(executor: MigrationExecutor) -> StateApps:
    return migrate(executor, executor.loader.graph.leaf_nodes())


def rows(apps, label: str) -> list[dict]:
    app_label, model_name, *m2m = label.split(".")
    model = apps.get_model(app_label, model_name)
    if m2m:
        model = model._meta.get_field(m2m[0]).remote_field.through
    return list(model.objects.order_by("pk").values())


def snapshot(apps, *, old_layout: bool) -> dict[str, list[dict]]:
    """Every row of TABLES, as stored (the webhook secret as its encrypted token)."""
    return {new: rows(apps, old if old_layout else new) for new, old in TABLES.items()}


def on_old_columns(new: dict[str, list[dict]], old: dict[str, list[dict]]) -> dict:
    """`new` restricted to the columns each table has in the old layout: later migrations add
    columns of their own (the routing fields: handoffs 0004, agents 0002). Asserts that the
    old layout's columns are all there."""
    restricted = {}
    for label, rows_ in new.items():
        columns = set(old[label][0]) if old[label] else set()
        assert all(columns <= set(row) for row in rows_), label
        restricted[label] = [{k: v for k, v in row.items() if k in columns} for row in rows_]
    return restricted


def content_types(apps) -> list[tuple[int, str, str]]:
    types = apps.get_model("contenttypes", "ContentType").objects.order_by("pk")
    return list(types.values_list("pk", "app_label", "model"))


def relabelled(types: list[tuple[int, str, str]], *, forward: bool) -> list[tuple[int, str, str]]:
    """The content types as the move should leave them: same rows, moved models relabelled."""
    result = []
    for pk, app_label, model in types:
        if model in MOVED and app_label == ("conversations" if forward else MOVED[model]):
            app_label = MOVED[model] if forward else "conversations"
        result.append((pk, app_label, model))
    return result


def stored_secret(bot_pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT webhook_secret FROM conversations_bot WHERE id = %s", [bot_pk])
        return cursor.fetchone()[0]


def fill_old_layout(apps: StateApps) -> SimpleNamespace:
    """One of everything, written through the old layout's models."""
    now = timezone.now()
    get = apps.get_model
    ContentType_ = get("contenttypes", "ContentType")
    # An old-layout database has the moved models' content types (and their permissions)
    # under conversations, and none under the new apps.
    assert not ContentType_.objects.filter(
        app_label__in=set(MOVED.values()), model__in=MOVED
    ).exists()
    types = {
        model: ContentType_.objects.get_or_create(app_label="conversations", model=model)[0]
        for model in MOVED
    }
    change_delivery, _ = get("auth", "Permission").objects.get_or_create(
        content_type=types["delivery"],
        codename="change_delivery",
        defaults={"name": "Can change delivery"},
    )

    agent = get(settings.AUTH_USER_MODEL).objects.create(
        username="alice", first_name="Alice", last_name="Martin", password="!", is_staff=True
    )
    get("agents", "AgentProfile").objects.create(user=agent, online=True)
    group = get("auth", "Group").objects.create(name="Webhook operators")
    group.permissions.add(change_delivery)
    agent.groups.add(group)

    # The old layout's field (migration 0005) encrypts the secret on save.
    bot = get("conversations", "Bot").objects.create(
        name="Old bot",
        api_key_hash="a" * 64,
        api_key_hint="hk_1234",
        webhook_url="https://bot.example.com/hooks",
        webhook_secret=SECRET,
        webhook_enabled=True,
    )
    assert SECRET not in stored_secret(bot.pk)
    end_user = get("conversations", "EndUser").objects.create(
        bot=bot, external_id="user-1", variables={"fullName": "Ada Lovelace", "plan": "pro"}
    )
    conversation = get("conversations", "Conversation").objects.create(
        bot=bot, external_id="thread-1", end_user=end_user, channel="web", last_message_at=now
    )
    label = get("handoffs", "Label").objects.create(name="billing", color="#2563eb")
    handoff = get("handoffs", "Handoff").objects.create(
        bot=bot,
        conversation=conversation,
        status="assigned",
        agent=agent,
        language="fr",
        timeout_seconds=300,
        assigned_at=now,
        last_user_message="My invoice is wrong",
    )
    handoff.labels.add(label)
    Message_ = get("conversations", "Message")
    incoming = Message_.objects.create(
        conversation=conversation,
        external_id="m-1",
        direction="incoming",
        text="My invoice is wrong",
        payload={"type": "text"},
    )
    reply = Message_.objects.create(
        conversation=conversation, handoff=handoff, direction="agent", author=agent, text="Hi!"
    )
    note = get("conversations", "Note").objects.create(
        conversation=conversation, handoff=handoff, author=agent, text="Refund approved"
    )

    Event_ = get("conversations", "Event")
    Delivery_ = get("conversations", "Delivery")
    sent_event = Event_.objects.create(
        public_id="evt_sent",
        bot=bot,
        conversation=conversation,
        type="handoff.created",
        data={"handoff_id": handoff.pk},
        feed_seq=1,
    )
    pending_event = Event_.objects.create(
        public_id="evt_pending",
        bot=bot,
        conversation=conversation,
        type="message.created",
        data={"message_id": reply.pk, "text": "Hi!"},
    )
    sent = Delivery_.objects.create(
        event=sent_event,
        bot=bot,
        conversation=conversation,
        status="delivered",
        attempts=1,
        last_attempt_at=now,
        last_status_code=200,
        delivered_at=now,
    )
    pending = Delivery_.objects.create(
        event=pending_event,
        bot=bot,
        conversation=conversation,
        status="pending",
        attempts=2,
        next_attempt_at=now - timedelta(minutes=1),
        last_attempt_at=now - timedelta(minutes=2),
        last_status_code=503,
        last_error="HTTP 503 Service Unavailable",
    )
    record = get("conversations", "IdempotencyRecord").objects.create(
        bot=bot, key="order-42", request_hash="f" * 64, status_code=201, body={"id": 42}
    )
    log = get("admin", "LogEntry").objects.create(
        user=agent,
        content_type=types["delivery"],
        object_id=str(pending.pk),
        object_repr="delivery of evt_pending (pending)",
        action_flag=CHANGE,
        change_message="Retried by hand",
    )
    return SimpleNamespace(
        agent=agent.pk,
        bot=bot.pk,
        end_user=end_user.pk,
        conversation=conversation.pk,
        label=label.pk,
        handoff=handoff.pk,
        incoming=incoming.pk,
        reply=reply.pk,
        note=note.pk,
        sent_event=sent_event.pk,
        pending_event=pending_event.pk,
        sent=sent.pk,
        pending=pending.pk,
        record=record.pk,
        log=log.pk,
        delivery_type=types["delivery"].pk,
    )


def test_database_filled_under_old_layout_keeps_every_row_after_migrating(executor):
    old_apps = to_old_layout(executor)
    old = fill_old_layout(old_apps)
    before, types_before = snapshot(old_apps, old_layout=True), content_types(old_apps)
    assert all(before.values()), "every table holds a row to compare"

    to_latest(executor)

    assert on_old_columns(snapshot(current_apps, old_layout=False), before) == before
    # The moved models' content types are the same rows (their permissions and admin history
    # follow), relabelled, with no duplicate under either app.
    assert content_types(current_apps) == relabelled(types_before, forward=True)
    for model, app_label in MOVED.items():
        assert [t.app_label for t in ContentType.objects.filter(model=model)] == [app_label]
    assert ContentType.objects.get_for_model(Delivery).pk == old.delivery_type

    bot = Bot.objects.get(pk=old.bot)
    assert bot.webhook_secret == SECRET
    conversation = Conversation.objects.get(pk=old.conversation, bot=bot)
    assert conversation.end_user == EndUser.objects.get(pk=old.end_user)
    handoff = Handoff.objects.get(pk=old.handoff, conversation=conversation)
    assert handoff.agent.pk == old.agent
    assert [label.pk for label in handoff.labels.all()] == [old.label]
    assert list(conversation.messages.values_list("pk", flat=True)) == [old.incoming, old.reply]
    assert Message.objects.get(pk=old.reply).handoff == handoff
    assert Note.objects.get(pk=old.note).handoff == handoff

    sent = Delivery.objects.get(pk=old.sent, status="delivered")
    assert sent.event == Event.objects.get(pk=old.sent_event, bot=bot, feed_seq=1)
    assert Event.objects.get(pk=old.pending_event).delivery.pk == old.pending
    assert [d.pk for d in Delivery.objects.filter(status="pending")] == [old.pending]
    record = IdempotencyRecord.objects.get(bot=bot, key="order-42")
    assert (record.pk, record.body) == (old.record, {"id": 42})

    agent = get_user_model().objects.get(pk=old.agent)
    assert agent.has_perm("webhooks.change_delivery")
    assert not agent.has_perm("conversations.change_delivery")
    log = LogEntry.objects.get(pk=old.log)
    assert log.content_type.model_class() is Delivery
    assert log.get_edited_object() == Delivery.objects.get(pk=old.pending)

    # The worker picks the pending delivery up, with the secret it signs with.
    claims = claim_due(limit=10)
    assert [claim.delivery.pk for claim in claims] == [old.pending]
    assert claims[0].delivery.bot.webhook_secret == SECRET


def fill_new_layout() -> SimpleNamespace:
    """One of everything, written through the current models."""
    agent = UserFactory(username="alice", online=True)
    bot = BotFactory(name="New bot", webhook_url="https://bot.example.com/hooks")
    conversation = ConversationFactory(bot=bot)
    message = MessageFactory(conversation=conversation)
    handoff = HandoffFactory(conversation=conversation, agent=agent, status="assigned")
    handoff.labels.add(LabelFactory(name="billing"))
    Note.objects.create(conversation=conversation, handoff=handoff, author=agent, text="VIP")
    event = Event.objects.create(
        bot=bot, conversation=conversation, type="message.created", data={"id": message.pk}
    )
    delivery = Delivery.objects.create(event=event, bot=bot, conversation=conversation)
    IdempotencyRecord.objects.create(
        bot=bot, key="order-42", request_hash="f" * 64, status_code=201, body={"id": 42}
    )
    delivery_type = ContentType.objects.get_for_model(Delivery)
    change_delivery, _ = Permission.objects.get_or_create(
        content_type=delivery_type,
        codename="change_delivery",
        defaults={"name": "Can change delivery"},
    )
    group = Group.objects.create(name="Webhook operators")
    group.permissions.add(change_delivery)
    agent.groups.add(group)
    for model in (Event, IdempotencyRecord):  # as post_migrate made them in a real database
        ContentType.objects.get_for_model(model)
    log = LogEntry.objects.create(
        user=agent,
        content_type=delivery_type,
        object_id=str(delivery.pk),
        object_repr=str(delivery),
        action_flag=CHANGE,
    )
    return SimpleNamespace(
        agent=agent.pk, bot=bot.pk, secret=bot.webhook_secret, delivery=delivery.pk, log=log.pk
    )


def test_migrating_back_to_old_layout_keeps_every_row_and_relabels_content_types(executor):
    new = fill_new_layout()
    before, types_before = snapshot(current_apps, old_layout=False), content_types(current_apps)
    assert all(before.values()), "every table holds a row to compare"

    old_apps = to_old_layout(executor)

    after = snapshot(old_apps, old_layout=True)
    assert after == on_old_columns(before, after)
    assert content_types(old_apps) == relabelled(types_before, forward=False)
    ContentType_ = old_apps.get_model("contenttypes", "ContentType")
    for model in MOVED:
        assert [t.app_label for t in ContentType_.objects.filter(model=model)] == ["conversations"]
    bot = old_apps.get_model("conversations", "Bot").objects.get(pk=new.bot)
    assert bot.webhook_secret == new.secret
    Delivery_ = old_apps.get_model("conversations", "Delivery")
    assert list(Delivery_.objects.filter(status="pending").values_list("pk", flat=True)) == [
        new.delivery
    ]
    log = old_apps.get_model("admin", "LogEntry").objects.get(pk=new.log)
    assert (log.content_type.app_label, log.content_type.model) == ("conversations", "delivery")
    Permission_ = old_apps.get_model("auth", "Permission")
    granted = Permission_.objects.filter(group__user__pk=new.agent)
    assert list(granted.values_list("content_type__app_label", "codename")) == [
        ("conversations", "change_delivery")
    ]
