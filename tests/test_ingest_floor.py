"""The ingest benchmark's floors and its wrk reading (bench/floor_urls.py, bench/measure_http.py):
the irreducible transaction stores a real message row (every column the model has, as it
grows), and wrk's report is read right."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test import Client, override_settings

from bench import floor_urls
from bench.measure_http import Tally, Target, wrk_slice
from conversations.models import Message
from tests.factories import BotFactory, ConversationFactory

WRK_OUTPUT = """Running 4s test @ http://127.0.0.1:40123
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    18.04ms   10.12ms  96.33ms   71.20%
    Req/Sec   445.91     60.10   565.00     70.00%
  Latency Distribution
     50%   16.02ms
     75%   22.90ms
     90%   30.61ms
     99%   54.77ms
  3536 requests in 4.01s, 1.01MB read
  Non-2xx or 3xx responses: 3
Requests/sec:    881.80
Transfer/sec:    258.25KB
"""


def test_a_wrk_report_is_read_into_requests_seconds_p50_and_errors(monkeypatch, tmp_path):
    class Done:
        stdout = WRK_OUTPUT

    monkeypatch.setattr("bench.measure_http.WRK", "/usr/bin/wrk")
    monkeypatch.setattr("bench.measure_http.subprocess.run", lambda *a, **k: Done())
    server = type("S", (), {"url": "http://127.0.0.1:40123"})()
    tally = wrk_slice(Target("x", server, "/bare", 16), "run", 4, tmp_path / "s.lua")
    assert (tally.requests, tally.seconds, tally.errors) == (3536, 4.01, 3)
    assert tally.p50s == [pytest.approx(0.01602)]
    total = Tally()
    total.add(tally)
    total.add(tally)
    assert total.throughput == pytest.approx(3536 / 4.01)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the floor is PostgreSQL SQL")
@pytest.mark.django_db(transaction=True)
@override_settings(ROOT_URLCONF="bench.floor_urls")
def test_the_irreducible_transaction_stores_the_message_row(monkeypatch):
    bot = BotFactory()
    conversation = ConversationFactory(bot=bot, external_id="ingest-c-1")
    monkeypatch.setenv("BENCH_BOT_ID", str(bot.pk))
    body = {
        "conversation_id": "ingest-c-1",
        "user_id": "user-ingest-c-1",
        "channel": "web",
        "id": "m-1",
        "direction": "incoming",
        "text": "Hello",
    }
    try:
        response = Client().post("/irreducible", json.dumps(body), content_type="application/json")
    finally:
        if floor := getattr(floor_urls._local, "conn", None):  # the view's own connection
            floor.close()
    assert response.status_code == 201, response.content
    message = Message.objects.get(pk=int(response.json()["id"].removeprefix("msg_")))
    assert (message.conversation_id, message.external_id, message.text) == (
        conversation.pk,
        "m-1",
        "Hello",
    )
    assert message.payload == {} and message.handoff_id is None
