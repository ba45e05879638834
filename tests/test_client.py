"""clients/python/hitlnext_client.py: one method per operation of our OpenAPI document (so the
client cannot drift from the contract), typed results, the server's errors, Retry-After, and
webhook verification with the Standard Webhooks reference library.

The client talks to the real application in-process (httpx's WSGI transport), or to a
scripted transport where the test needs an answer the server would not give on demand."""

from __future__ import annotations

import dataclasses
import inspect
import json
import time
import typing
from typing import Any

import hitlnext_client as hc
import httpx
import pytest
from django.core import signals
from django.core.cache import cache
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import override_settings

from api.endpoints import api as ninja_api
from handoffs import services
from handoffs.messaging import send_agent_message
from handoffs.models import Handoff
from tests.factories import LabelFactory
from webhooks.signing import signature

PREFIX = "/api/v1"
# The document's response schemas and the dataclass each is read into.
RESULTS: dict[str, type] = {
    "HandoffOut": hc.Handoff,
    "AgentRef": hc.AgentRef,
    "QueueOut": hc.QueuePlace,
    "HandoffRef": hc.HandoffRef,
    "MessageOut": hc.RelayedMessage,
    "RatingOut": hc.Rating,
    "AgentOut": hc.Agent,
    "LabelOut": hc.Label,
    "EventPage": hc.EventPage,
    "DeliveryPage": hc.DeliveryPage,
    "DeliveryOut": hc.Delivery,
    "DeliveryEventRef": hc.DeliveryEvent,
    "OutboundMessage": hc.OutboundMessage,
    "AttachmentOut": hc.Attachment,
}
# Schemas read as plain JSON: lists the methods unwrap, and events' `data` (Event.data, with
# the handoff and message read typed by Event.handoff and Event.message).
UNWRAPPED = {"AgentList", "LabelList", "Event", "EventType"}


@pytest.fixture(scope="module")
def document() -> dict:
    return json.loads(json.dumps(ninja_api.get_openapi_schema(path_prefix=PREFIX)))


def operations(document: dict):
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield method.upper(), path.removeprefix(PREFIX), operation


def schema_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def refs(schema: Any) -> set[str]:
    """The schema names a (sub)schema refers to."""
    found: set[str] = set()
    if isinstance(schema, dict):
        if "$ref" in schema:
            found.add(schema_name(schema["$ref"]))
        for value in schema.values():
            found |= refs(value)
    elif isinstance(schema, list):
        for value in schema:
            found |= refs(value)
    return found


def test_the_client_has_one_method_per_operation_calling_its_method_and_path(document):
    documented = {op["operationId"]: (method, path) for method, path, op in operations(document)}

    assert hc.OPERATIONS == documented
    for name in documented:
        assert callable(getattr(hc.HitlnextClient, name, None)), name


def test_each_method_takes_every_documented_parameter_and_body_field(document):
    schemas = document["components"]["schemas"]
    for _, _, operation in operations(document):
        method = getattr(hc.HitlnextClient, operation["operationId"])
        accepted = set(inspect.signature(method).parameters) - {"self"}
        wanted = set()
        for parameter in operation.get("parameters", []):
            name = parameter["name"]
            wanted.add("idempotency_key" if name == "Idempotency-Key" else name)
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body:
            wanted |= set(schemas[schema_name(body["schema"]["$ref"])]["properties"])

        assert accepted == wanted, operation["operationId"]


def test_every_field_the_server_answers_has_a_typed_home_in_the_client(document):
    """Walk every schema reachable from a 2xx answer and from the webhooks' bodies: each
    object schema is one of the client's dataclasses (with all its fields) or read as JSON
    on purpose."""
    schemas = document["components"]["schemas"]
    todo: set[str] = set()
    for _, _, operation in operations(document):
        for status, response in operation["responses"].items():
            if status.startswith("2"):
                todo |= refs(response.get("content", {}))
    for hook in document["webhooks"].values():
        todo |= refs(hook["post"]["requestBody"])
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        schema = schemas[name]
        todo |= refs(schema)
        if name in RESULTS:
            fields = {field.name for field in dataclasses.fields(RESULTS[name])}
            assert set(schema["properties"]) <= fields, (name, set(schema["properties"]) - fields)
        else:
            # Every event's envelope and `data`: Event holds id, type, created_at, data.
            envelope = {"id", "type", "created_at", "data"}
            is_event = name.endswith("Event") and set(schema.get("properties", {})) == envelope
            assert name in UNWRAPPED or is_event or name.endswith("Data"), name
    assert set(RESULTS) <= seen  # no dataclass for a schema that went away


def test_the_event_types_the_client_reads_typed_are_the_documents(document):
    for name, hook in document["webhooks"].items():
        envelope = document["components"]["schemas"][
            schema_name(
                hook["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            )
        ]
        data = document["components"]["schemas"][
            schema_name(envelope["properties"]["data"]["$ref"])
        ]
        properties = data["properties"]
        if name.startswith("handoff."):
            assert schema_name(properties["handoff"]["$ref"]) == "HandoffOut"
        else:
            assert name == "message.created"
            assert schema_name(properties["message"]["$ref"]) == "OutboundMessage"


# --- Against the real application -------------------------------------------------------------


@pytest.fixture
def transport():
    """The application in-process. Like Django's test client, requests leave the test's
    database connection open (it holds the test's transaction)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield httpx.WSGITransport(app=get_wsgi_application())
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def hitl(bot, transport):
    with hc.HitlnextClient("http://testserver", bot.api_key, transport=transport) as client:
        yield client


@pytest.mark.django_db
def test_the_typed_calls_round_trip_with_the_server(hitl, agent):
    LabelFactory(name="shipping")
    history: list[hc.HistoryItem] = [
        {"id": "m-1", "direction": "incoming", "text": "Where is my parcel?"},
    ]

    created = hitl.create_handoff(
        conversation_id="th-42",
        user_id="u-7",
        channel="whatsapp",
        user={"fullName": "Ada Lovelace"},
        history=history,
        labels=["shipping"],
        priority="high",
    )
    again = hitl.create_handoff(conversation_id="th-42", user_id="u-7", channel="whatsapp")
    relayed = hitl.relay_message(
        conversation_id="th-42", user_id="u-7", channel="whatsapp", id="m-2",
        direction="incoming", text="Hello?",
    )  # fmt: skip
    repeated = hitl.relay_message(
        conversation_id="th-42", user_id="u-7", channel="whatsapp", id="m-2",
        direction="incoming", text="Hello?",
    )  # fmt: skip

    assert (created.created, again.created, again.id) == (True, False, created.id)
    assert created.status == "pending" and created.active
    assert created.labels == ["shipping"] and created.priority == "high"
    assert created.queue is not None and created.queue.position == 1
    assert created.created_at.tzinfo is not None
    assert (
        relayed.paused
        and relayed.created
        and relayed.handoff == hc.HandoffRef(created.id, "pending")
    )
    assert not repeated.created and repeated.id == relayed.id
    assert [label.name for label in hitl.list_labels()] == ["shipping"]
    assert [(a.username, a.online) for a in hitl.list_agents()] == [("alice", True)]

    handoff = services.assign_handoff(handoff=Handoff.objects.get(), agent=agent)
    send_agent_message(handoff=handoff, agent=agent, text="Alice here")
    services.resolve_handoff(handoff=handoff, agent=agent)
    resolved = hitl.get_handoff(created.id)
    rating = hitl.rate_handoff(created.id, score=5, comment="Quick!")

    assert resolved.status == "resolved" and not resolved.active
    assert resolved.agent == hc.AgentRef(agent.pk, "Alice Martin", None)
    assert (rating.score, rating.comment, rating.source) == (5, "Quick!", "bot")
    events = [event for page in hitl.iter_events(limit=2) for event in page.events]
    assert [event.type for event in events][:2] == ["handoff.created", "message.created"]
    assert "handoff.rated" in {event.type for event in events}
    spoken = [e.message for e in events if e.message is not None and e.message.author == "agent"]
    assert [(m.text, m.agent.name if m.agent else None) for m in spoken] == [
        ("Alice here", "Alice Martin")
    ]
    assert all(e.handoff.id == created.id for e in events if e.type.startswith("handoff."))
    page = hitl.list_deliveries(status="failing")
    assert page.webhook_enabled and page.deliveries == [] and page.next_cursor is None


@pytest.mark.django_db
def test_errors_carry_the_servers_detail_and_field_messages(hitl):
    with pytest.raises(hc.InvalidRequest) as invalid:
        hitl.create_handoff(conversation_id="th-1", user_id="u-1", channel="web", labels=["vip"])
    with pytest.raises(hc.NotFound) as missing:
        hitl.get_handoff(999999)
    handoff = hitl.create_handoff(conversation_id="th-1", user_id="u-1", channel="web")
    hitl.reject_handoff(handoff.id)
    with pytest.raises(hc.Conflict) as conflict:
        hitl.reject_handoff(handoff.id)
    with pytest.raises(hc.InvalidRequest) as bad_score:
        hitl.rate_handoff(handoff.id, score=9)

    assert invalid.value.status == 422
    assert invalid.value.errors[0].field == "labels"
    assert "Unknown label" in str(invalid.value)
    assert "labels: Unknown label" in str(invalid.value)
    assert (missing.value.status, missing.value.detail) == (404, "Not found.")
    assert conflict.value.status == 409 and "rejected" in conflict.value.detail
    assert [e.field for e in bad_score.value.errors] == ["score"]


@pytest.mark.django_db
def test_a_wrong_key_is_authentication_failed(bot, transport):
    with hc.HitlnextClient("http://testserver", "hk_wrong", transport=transport) as client:
        with pytest.raises(hc.AuthenticationFailed, match="401 Missing or invalid API key"):
            client.list_agents()


@pytest.mark.django_db
@override_settings(HITLNEXT_API_RATE_LIMIT=(1, 60))
def test_a_rate_limit_is_retried_after_retry_after_a_bounded_number_of_times(bot, transport):
    cache.clear()
    waits: list[float] = []
    patient = hc.HitlnextClient(
        "http://testserver", bot.api_key, transport=transport, sleep=waits.append,
        max_retries=2, max_retry_wait=120,
    )  # fmt: skip
    hurried = hc.HitlnextClient("http://testserver", bot.api_key, transport=transport)
    try:
        patient.list_labels()
        with pytest.raises(hc.RateLimited) as limited:
            patient.list_labels()
        with pytest.raises(hc.RateLimited):
            hurried.list_labels()  # asked to wait longer than its 30 s: at once
    finally:
        cache.clear()

    assert len(waits) == 2 and all(55 <= wait <= 66 for wait in waits)
    assert limited.value.retry_after is not None and 55 <= limited.value.retry_after <= 66


def scripted(*answers: httpx.Response) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    requests: list[httpx.Request] = []
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return queue.pop(0)

    return httpx.MockTransport(handler), requests


def test_a_503_is_retried_with_the_same_idempotency_key_and_then_succeeds():
    unavailable = httpx.Response(
        503,
        headers={"Retry-After": "5"},
        json={"detail": "The service is temporarily unavailable; retry the request shortly.",
              "errors": []},
    )  # fmt: skip
    ok = httpx.Response(201, json={"id": "msg_1", "handoff": None, "paused": False})
    transport, requests = scripted(unavailable, unavailable, ok)
    waits: list[float] = []
    client = hc.HitlnextClient("http://x", "hk_1", transport=transport, sleep=waits.append)

    relayed = client.relay_message(
        conversation_id="c", user_id="u", channel="web", id="m", direction="incoming", text="hi"
    )

    assert relayed == hc.RelayedMessage("msg_1", None, False, True)
    assert waits == [5.0, 5.0]
    keys = {request.headers["Idempotency-Key"] for request in requests}
    assert len(requests) == 3 and len(keys) == 1
    assert requests[0].headers["Authorization"] == "Bearer hk_1"
    assert json.loads(requests[0].content) == {
        "conversation_id": "c",
        "user_id": "u",
        "channel": "web",
        "id": "m",
        "direction": "incoming",
        "text": "hi",
    }


def test_an_error_that_is_not_ours_still_raises_with_its_status():
    transport, _ = scripted(httpx.Response(502, text="<html>Bad gateway</html>"))
    client = hc.HitlnextClient("http://x", "hk_1", transport=transport)

    with pytest.raises(hc.HitlnextError) as error:
        client.list_agents()

    assert error.value.status == 502 and error.value.detail == "Bad Gateway"


def test_results_ignore_fields_the_server_adds_later():
    answer = {"name": "vip", "color": "#000000", "added_in_v1_5": True}
    transport, _ = scripted(httpx.Response(200, json={"labels": [answer], "more": 1}))

    labels = hc.HitlnextClient("http://x", "hk_1", transport=transport).list_labels()

    assert labels == [hc.Label("vip", "#000000")]


# --- Webhooks ---------------------------------------------------------------------------------

BODY = json.dumps(
    {
        "id": "evt_1",
        "type": "message.created",
        "created_at": "2026-03-01T12:01:05Z",
        "data": {
            "message": {
                "id": "msg_9",
                "conversation_id": "th-42",
                "user_id": "u-7",
                "channel": "web",
                "author": "agent",
                "agent": {"id": 3, "name": "Alice Martin", "avatar_url": None},
                "text": "Hello",
                "created_at": "2026-03-01T12:01:05Z",
            }
        },
    }
).encode()


def signed(secret: str, timestamp: int, body: bytes = BODY) -> dict[str, str]:
    sig = signature(secret=secret, msg_id="evt_1", timestamp=timestamp, body=body)
    # Several signatures may be sent during a secret rotation: any v1 match counts.
    return {
        "webhook-id": "evt_1",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,bm90LXRoaXMtb25l {sig}",
    }


@pytest.mark.django_db
def test_the_verifier_accepts_our_signatures_only_when_fresh_and_with_its_secret(bot, other_bot):
    secret, now = bot.webhook_secret, int(time.time())

    event = hc.verify_webhook(secret=secret, body=BODY, headers=signed(secret, now))

    assert (event.id, event.type) == ("evt_1", "message.created")
    assert event.message is not None and event.message.agent is not None
    assert (event.message.text, event.message.agent.name) == ("Hello", "Alice Martin")
    assert event.handoff is None
    refused = [
        (BODY + b" ", signed(secret, now)),  # body changed
        (BODY, signed(secret, now - 600)),  # replayed later
        (BODY, signed(other_bot.webhook_secret, now)),  # another bot's secret
        (BODY, {}),  # unsigned
        (BODY, signed(secret, now) | {"webhook-signature": "v1"}),  # malformed header
        (BODY, signed(secret, now) | {"webhook-signature": "v1,%%%"}),  # not base64
    ]
    for body, headers in refused:
        with pytest.raises(hc.InvalidWebhook):
            hc.verify_webhook(secret=secret, body=body, headers=headers)


def test_the_client_module_is_typed_for_its_users():
    assert typing.get_type_hints(hc.HitlnextClient.relay_message)["return"] is hc.RelayedMessage
    assert typing.get_type_hints(hc.verify_webhook)["return"] is hc.Event
