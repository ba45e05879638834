from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone

from conversations.models import Message, Note
from handoffs import messaging, services
from handoffs.retention import plan_purge, purge_messages

pytestmark = pytest.mark.django_db


def start(bot, conv, **kw):
    return services.start_handoff(
        bot=bot, conversation_id=conv, user_id=f"u-{conv}", channel="web", **kw
    )[0]


@pytest.fixture
def old_and_recent(bot, agent):
    """A conversation resolved 40 days ago, one resolved yesterday, one still pending."""
    with time_machine.travel(timezone.now() - timedelta(days=40)):
        old = start(bot, "old", history=[{"id": "h1", "direction": "incoming", "text": "hi"}])
        services.assign_handoff(handoff=old, agent=agent)
        services.resolve_handoff(handoff=old, agent=agent)
        waiting = start(bot, "waiting")
    with time_machine.travel(timezone.now() - timedelta(days=1)):
        recent = start(bot, "recent")
        services.reject_handoff(handoff=recent)
    return old, recent, waiting


def test_plan_selects_only_conversations_ended_before_the_cutoff(old_and_recent):
    old, recent, waiting = old_and_recent
    plan = plan_purge(days=30)
    assert plan.conversation_ids == [old.conversation_id]
    assert plan.message_count == old.conversation.messages.count() == 3


def test_purge_deletes_messages_but_keeps_handoffs_and_notes(old_and_recent, agent):
    old, recent, waiting = old_and_recent
    Note.objects.create(conversation=old.conversation, handoff=old, author=agent, text="kept")
    deleted = purge_messages(plan=plan_purge(days=30))
    assert deleted == 3
    assert not Message.objects.filter(conversation=old.conversation).exists()
    assert Message.objects.filter(conversation=recent.conversation).exists()
    old.refresh_from_db()
    assert old.status == "resolved" and old.last_user_message == ""
    assert Note.objects.filter(conversation=old.conversation).count() == 1


def test_purge_skips_a_conversation_that_became_active_after_planning(old_and_recent, bot):
    old, _, _ = old_and_recent
    plan = plan_purge(days=30)
    start(bot, "old")  # the user came back: a new handoff on the same conversation
    assert purge_messages(plan=plan) == 0
    assert old.conversation.messages.exists()


def test_command_is_a_dry_run_without_yes(old_and_recent, capsys):
    old, _, _ = old_and_recent
    call_command("purge_messages", "--days", "30")
    out = capsys.readouterr().out
    assert "3 messages in 1 conversations" in out and "Dry run" in out
    assert old.conversation.messages.count() == 3
    call_command("purge_messages", "--days", "30", "--yes")
    assert old.conversation.messages.count() == 0


def test_command_needs_a_retention_period():
    with pytest.raises(CommandError, match="--days"):
        call_command("purge_messages")


def test_export_user_data_holds_messages_notes_and_handoffs(bot, agent, capsys):
    handoff = start(bot, "th", user_variables={"fullName": "Ada", "email": "ada@example.com"})
    services.assign_handoff(handoff=handoff, agent=agent)
    messaging.send_agent_message(handoff=handoff, agent=agent, text="Hello Ada")
    Note.objects.create(conversation=handoff.conversation, handoff=handoff, text="VIP")
    call_command("export_user_data", "--bot", bot.name, "--user", "u-th")
    data = json.loads(capsys.readouterr().out)
    assert data["variables"]["email"] == "ada@example.com"
    [conversation] = data["conversations"]
    assert [m["text"] for m in conversation["messages"]][-1] == "Hello Ada"
    assert conversation["notes"][0]["text"] == "VIP"
    assert conversation["handoffs"][0]["status"] == "assigned"


def test_export_of_unknown_user_is_a_clear_error(bot):
    with pytest.raises(CommandError, match="No user 'nobody'"):
        call_command("export_user_data", "--bot", bot.name, "--user", "nobody")


def test_worker_applies_the_retention_setting(old_and_recent, settings, monkeypatch):
    from webhooks import worker

    old, recent, _ = old_and_recent
    settings.HITLNEXT_RETENTION_DAYS = 30
    monkeypatch.setattr(worker, "_last_housekeeping", 0.0)
    worker.housekeeping()
    assert not old.conversation.messages.exists()
    assert recent.conversation.messages.exists()


def test_old_events_are_pruned_unless_their_webhook_is_pending(bot, other_bot):
    from webhooks.events import prune_events
    from webhooks.models import Delivery, Event

    bot.webhook_url = "http://127.0.0.1:9/hook"
    bot.save()
    with time_machine.travel(timezone.now() - timedelta(days=40)):
        start(bot, "with-webhook")
        start(other_bot, "feed-only")
    Delivery.objects.filter(event__type="handoff.created").update(status="delivered")
    pruned = prune_events(before=timezone.now() - timedelta(days=30))
    assert pruned == 3  # other_bot's two events and bot's delivered handoff.created
    left = list(Event.objects.values_list("bot__name", "type"))
    assert left == [(bot.name, "message.created")]  # its delivery is still pending
