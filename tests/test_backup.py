"""`manage.py backup` and `manage.py restore`: a backup taken, the data changed or deleted, the
backup restored, and every row, file and credential is back as it was.

Each test runs on a throwaway database (tests/scratch_database.py), SQLite or PostgreSQL as
the suite is configured: a restore replaces the whole database, never the test database.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.test import Client

from conversations.models import Bot, Conversation, Message, Note
from handoffs.messaging import add_note, send_agent_message
from handoffs.models import Handoff
from handoffs.services import assign_handoff, resolve_handoff
from tests.api_support import BotApi, handoff_body, message_body
from tests.factories import BotFactory, LabelFactory, UserFactory
from tests.scratch_database import scratch_database
from webhooks.models import Delivery, Event

pytestmark = pytest.mark.django_db(transaction=True)

AVATAR = b"\x89PNG\r\n\x1a\n an avatar"


@pytest.fixture
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def live(tmp_path, media) -> Iterator[str]:
    """The installation being backed up: a new database, migrated as `manage.py migrate`
    leaves it."""
    with scratch_database(tmp_path) as name:
        call_command("migrate", verbosity=0)
        yield name


def fill() -> SimpleNamespace:
    """A day's work, made the way the product makes it: handoffs and messages through the
    API (with their events and webhook deliveries), the agent's side through the services."""
    agent = UserFactory(username="alice", first_name="Alice", online=True)
    agent.agent_profile.avatar.save("alice.png", ContentFile(AVATAR))
    LabelFactory(name="billing")
    bot = BotFactory(name="Acme bot", webhook_url="https://bot.example.com/hooks")
    feed_bot = BotFactory(name="Feed bot")  # no webhook: its events are read from the feed
    api = BotApi(Client(), bot.api_key)
    user = {"fullName": "Ada Lovelace", "plan": "gold"}
    created = api.post(
        "/handoffs", handoff_body(conversation_id="th-1", user=user, labels=["billing"])
    )
    assert created.status_code == 201, created.content
    assert api.post("/messages", message_body(conversation_id="th-1")).status_code == 201
    assigned = Handoff.objects.get(pk=created.json()["id"])
    assign_handoff(handoff=assigned, agent=agent)
    send_agent_message(handoff=assigned, agent=agent, text="Let me check your invoice.")
    add_note(handoff=assigned, author=agent, text="Refund approved")
    pending = BotApi(Client(), feed_bot.api_key).post(
        "/handoffs", handoff_body(conversation_id="th-2", user_id="u-8")
    )
    assert pending.status_code == 201, pending.content
    return SimpleNamespace(
        agent=agent,
        bot=bot,
        api_key=bot.api_key,
        secret=bot.webhook_secret,
        assigned=assigned.pk,
        pending=pending.json()["id"],
    )


def snapshot() -> dict[str, list[dict]]:
    """Every row of every table, as stored (webhook secrets as their encrypted tokens)."""
    with connection.cursor() as cursor:
        tables = set(connection.introspection.table_names(cursor))
    return {
        model._meta.label: list(model._base_manager.order_by("pk").values())
        for model in apps.get_models(include_auto_created=True)
        if model._meta.managed and not model._meta.proxy and model._meta.db_table in tables
    }


def media_files(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def restore(path: Path, *args: str) -> SimpleNamespace:
    out, err = io.StringIO(), io.StringIO()
    call_command("restore", str(path), *args, stdout=out, stderr=err)
    return SimpleNamespace(out=out.getvalue(), err=err.getvalue())


def test_restore_puts_back_every_row_file_and_credential_changed_after_the_backup(
    live, media, tmp_path
):
    day = fill()
    before, files_before = snapshot(), media_files(media)
    for model in [Bot, Conversation, Message, Note, Handoff, Handoff.labels.through, Event]:
        assert before[model._meta.label], f"{model._meta.label} holds rows to compare"
    assert before[Delivery._meta.label] and files_before
    path = tmp_path / "hitlnext.tar.gz"

    out = io.StringIO()
    call_command("backup", str(path), stdout=out)

    assert f"Backup written to {path}" in out.getvalue()
    assert path.stat().st_mode & 0o077 == 0, "the backup is readable by its owner only"
    # After the backup: a handoff resolved, a conversation deleted, the key rotated, a bot
    # added, the avatar replaced and another file uploaded.
    resolve_handoff(handoff=Handoff.objects.get(pk=day.assigned), agent=day.agent)
    Conversation.objects.filter(handoffs__pk=day.pending).delete()
    rotated = day.bot.set_new_api_key()
    day.bot.save()
    later = BotFactory(name="Bot made after the backup")
    profile = day.agent.agent_profile
    profile.avatar.delete(save=False)
    profile.avatar.save("other.png", ContentFile(b"another picture"))
    assert snapshot() != before

    result = restore(path, "--force")

    assert "Restored the backup" in result.out and result.err == ""
    assert snapshot() == before
    assert media_files(media) == files_before
    # The restored credentials work: the key from before the rotation, not the later bot's.
    api = BotApi(Client(), day.api_key)
    response = api.get(f"/handoffs/{day.assigned}")
    assert response.status_code == 200 and response.json()["status"] == "assigned"
    for key in [rotated, later.api_key]:
        assert BotApi(Client(), key).get(f"/handoffs/{day.assigned}").status_code == 401
    assert Bot.objects.get(name="Acme bot").webhook_secret == day.secret
    # And the services go on from there: the restored assigned handoff can be resolved.
    agent = get_user_model().objects.get(username="alice")
    resolved = resolve_handoff(handoff=Handoff.objects.get(pk=day.assigned), agent=agent)
    assert resolved.status == Handoff.Status.RESOLVED


def test_restore_onto_a_new_empty_database_needs_no_force(live, media, tmp_path):
    """Disaster recovery: a new machine, nothing migrated yet."""
    fill()
    before = snapshot()
    path = tmp_path / "hitlnext.tar"
    call_command("backup", str(path), stdout=io.StringIO())
    with tarfile.open(path) as archive:
        names = archive.getnames()
        manifest = json.load(archive.extractfile("manifest.json"))
    database = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}[connection.vendor]
    assert names[:2] == ["manifest.json", database]
    assert names[2:] == ["media/avatars/alice.png"]
    assert manifest["format"] == 1 and manifest["vendor"] == connection.vendor
    assert "0001_initial" in manifest["migrations"]["conversations"]
    for child in media.rglob("*"):
        if child.is_file():
            child.unlink()

    with scratch_database(tmp_path):
        result = restore(path)

        assert "Restored the backup" in result.out
        assert snapshot() == before
        assert media_files(media) == {"avatars/alice.png": AVATAR}


def test_restore_refuses_to_replace_data_without_force(live, media, tmp_path):
    fill()
    path = tmp_path / "hitlnext.tar"
    call_command("backup", str(path), stdout=io.StringIO())
    BotFactory(name="Made after the backup")
    before = snapshot()

    with pytest.raises(CommandError, match=r"already holds 1 user, 3 bots, 1 media file.*--force"):
        restore(path)

    assert snapshot() == before


def test_a_damaged_backup_changes_nothing(live, media, tmp_path):
    """A backup cut short (here: its unpacked directory, the database file truncated) is
    refused, and the database and files are as they were."""
    fill()
    path = tmp_path / "hitlnext.tar"
    call_command("backup", str(path), stdout=io.StringIO())
    unpacked = tmp_path / "unpacked"
    with tarfile.open(path) as archive:
        archive.extractall(unpacked, filter="data")
    database = next(unpacked.glob("database.*"))
    data = database.read_bytes()
    database.write_bytes(data[: len(data) * 3 // 4])
    BotFactory(name="Made after the backup")
    before, files = snapshot(), media_files(media)

    with pytest.raises(CommandError, match="nothing was changed"):
        restore(unpacked, "--force")

    assert snapshot() == before
    assert media_files(media) == files


def test_restore_refuses_a_backup_from_a_newer_schema(live, media, tmp_path):
    MigrationRecorder(connection).record_applied("conversations", "9999_from_the_future")
    path = tmp_path / "hitlnext.tar"
    call_command("backup", str(path), stdout=io.StringIO())
    MigrationRecorder(connection).record_unapplied("conversations", "9999_from_the_future")
    bot = BotFactory(name="Kept")

    with pytest.raises(CommandError, match="newer hitlnext.*conversations.9999_from_the_future"):
        restore(path, "--force")

    assert list(Bot.objects.values_list("pk", flat=True)) == [bot.pk]


def test_restore_under_another_key_warns_which_webhook_secrets_cannot_be_read(
    live, media, tmp_path, settings
):
    day = fill()
    path = tmp_path / "hitlnext.tar"
    call_command("backup", str(path), stdout=io.StringIO())
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY = "another-secret-key-" + "x" * 40
    settings.HITLNEXT_ENCRYPTION_KEY = ""

    result = restore(path, "--force")

    assert "cannot decrypt the webhook secret of Acme bot, Feed bot" in result.err
    assert "HITLNEXT_ENCRYPTION_KEY_FALLBACKS" in result.err
    # The old key as a fallback opens them again.
    settings.HITLNEXT_ENCRYPTION_KEY_FALLBACKS = [old_key]
    assert Bot.objects.get(name="Acme bot").webhook_secret == day.secret


def test_restore_refuses_what_is_not_a_backup(live, tmp_path):
    junk = tmp_path / "notes.tar"
    with tarfile.open(junk, "w") as archive:
        archive.addfile(tarfile.TarInfo("readme.txt"), io.BytesIO(b""))
    text = tmp_path / "notes.txt"
    text.write_text("hello")

    with pytest.raises(CommandError, match="has no manifest.json"):
        restore(junk, "--force")
    with pytest.raises(CommandError, match="not a backup"):
        restore(text, "--force")


def test_backup_never_overwrites_a_file(live, tmp_path):
    path = tmp_path / "hitlnext.tar"
    path.write_text("an older backup")

    with pytest.raises(CommandError, match="already exists"):
        call_command("backup", str(path), stdout=io.StringIO())

    assert path.read_text() == "an older backup"


postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="pg_dump and pg_restore: PostgreSQL only"
)


def fake_tool(directory: Path, name: str, version: str) -> None:
    tool = directory / name
    tool.write_text(f"#!/bin/sh\necho '{name} (PostgreSQL) {version}'\n")
    tool.chmod(0o755)


@postgresql_only
def test_backup_says_when_pg_dump_is_missing_or_older_than_the_server(live, tmp_path, monkeypatch):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(CommandError, match="pg_dump was not found on PATH"):
        call_command("backup", str(tmp_path / "a.tar"))

    fake_tool(empty, "pg_dump", "9.6.24")
    with pytest.raises(CommandError, match=r"pg_dump 9 cannot dump a PostgreSQL \d+ server"):
        call_command("backup", str(tmp_path / "b.tar"))
    assert not list(tmp_path.glob("*.tar*"))


@postgresql_only
def test_restore_refuses_a_dump_newer_than_its_pg_restore(live, tmp_path, monkeypatch):
    path = tmp_path / "hitlnext.tar"
    call_command("backup", str(path), stdout=io.StringIO())
    tools = tmp_path / "bin"
    tools.mkdir()
    fake_tool(tools, "pg_restore", "9.6.24")
    monkeypatch.setenv("PATH", str(tools))

    with pytest.raises(CommandError, match=r"written by pg_dump \d+, which pg_restore 9 cannot"):
        restore(path, "--force")


@postgresql_only
def test_a_restore_failing_half_way_changes_nothing(live, tmp_path):
    """The tables are dropped and the backup loaded in one transaction: when the load fails
    (here: a view stands where the backup has a table), the dropped tables are back."""
    fill()
    path = tmp_path / "hitlnext.tar"
    call_command("backup", str(path), stdout=io.StringIO())
    with scratch_database(tmp_path):
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE kept (id integer)")
            cursor.execute("INSERT INTO kept VALUES (42)")
            cursor.execute("CREATE VIEW conversations_bot AS SELECT 1 AS id")

        with pytest.raises(CommandError, match="loading the backup failed, nothing was changed"):
            restore(path, "--force")

        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM kept")
            assert cursor.fetchall() == [(42,)]
