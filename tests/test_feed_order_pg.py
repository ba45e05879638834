"""The events feed never skips an event whose transaction commits after a later one."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from tests.api_support import BotApi
from webhooks.events import record_event
from webhooks.models import Event

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs concurrent writers; SQLite runs one write transaction at a time",
    ),
]


def test_an_event_committed_late_is_still_in_the_feed(client, bot):
    api = BotApi(client, bot.api_key)
    inserted, release = threading.Event(), threading.Event()

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                record_event(bot=bot, type="handoff.updated", data={"n": "early id"})
                inserted.set()
                release.wait(timeout=20)  # holds its (lower) id uncommitted meanwhile
        finally:
            connection.close()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert inserted.wait(timeout=20)
    with transaction.atomic():
        record_event(bot=bot, type="handoff.updated", data={"n": "late id"})

    first = api.get("/events").json()
    assert [e["data"]["n"] for e in first["events"]] == ["late id"]

    release.set()
    thread.join(timeout=20)
    ids = list(Event.objects.order_by("id").values_list("data__n", flat=True))
    assert ids == ["early id", "late id"]  # the early id committed last

    second = api.get("/events", {"after": first["next_cursor"]}).json()
    assert [e["data"]["n"] for e in second["events"]] == ["early id"]
