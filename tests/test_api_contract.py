"""The bot API's contract as a client developer reads it: the OpenAPI document (every field
described with an example, every event typed, plain operation ids), examples that work as
shown, strict request bodies and plain-worded validation errors."""

from __future__ import annotations

import copy
import json
import re
from datetime import timedelta
from pathlib import Path

import jsonschema_rs
import pytest
from django.utils import timezone

from api.endpoints import api as ninja_api
from api.events import EVENT_TYPE_NAMES
from handoffs import services
from handoffs.labels import set_handoff_labels
from handoffs.messaging import send_agent_message
from handoffs.models import Handoff
from tests.api_support import BotApi, assert_error, handoff_body, message_body
from tests.factories import LabelFactory
from webhooks.models import Event

ROOT = Path(__file__).resolve().parent.parent
# The contract's event types, written out: a type is added here on purpose, never by accident.
EVENT_TYPES = {
    "handoff.created",
    "handoff.assigned",
    "handoff.transferred",
    "handoff.requeued",
    "handoff.updated",
    "handoff.resolved",
    "handoff.expired",
    "handoff.rejected",
    "handoff.rated",
    "message.created",
}
OPERATION_IDS = {
    ("post", "/api/v1/handoffs"): "create_handoff",
    ("get", "/api/v1/handoffs/{handoff_id}"): "get_handoff",
    ("post", "/api/v1/handoffs/{handoff_id}/reject"): "reject_handoff",
    ("post", "/api/v1/handoffs/{handoff_id}/rating"): "rate_handoff",
    ("post", "/api/v1/messages"): "relay_message",
    ("get", "/api/v1/agents"): "list_agents",
    ("get", "/api/v1/events"): "list_events",
    ("get", "/api/v1/labels"): "list_labels",
    ("get", "/api/v1/deliveries"): "list_deliveries",
    ("post", "/api/v1/typing"): "show_typing",
}


@pytest.fixture(scope="module")
def document() -> dict:
    """The document as /api/v1/openapi.json serves it (built without a request: no database)."""
    return json.loads(json.dumps(ninja_api.get_openapi_schema(path_prefix="/api/v1/")))


@pytest.mark.django_db
def test_the_served_document_is_the_one_tested(client, document):
    assert client.get("/api/v1/openapi.json").json() == document


@pytest.fixture
def api(client, bot):
    return BotApi(client, bot.api_key)


def operations(document: dict):
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield method, path, operation


def validator(document: dict, ref: str, *, strict: bool = False):
    """A JSON Schema validator for one of the document's schemas (OpenAPI 3.1 is JSON
    Schema 2020-12). `strict`: no property beyond the documented ones, anywhere."""
    components = copy.deepcopy(document["components"])
    if strict:
        for schema in _subschemas(components):
            if "properties" in schema:
                schema["additionalProperties"] = False
    root = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": components,
        "$ref": ref,
    }
    return jsonschema_rs.validator_for(root, validate_formats=True)


def _subschemas(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _subschemas(value)
    elif isinstance(node, list):
        for value in node:
            yield from _subschemas(value)


def errors_of(validator, instance) -> list[str]:
    return [f"{list(e.instance_path)}: {e.message}" for e in validator.iter_errors(instance)]


# --- Events: the webhooks section, the Event schema, the README ---------------------------------


def test_every_event_type_is_a_webhook_with_typed_data(document):
    assert set(document["webhooks"]) == EVENT_TYPES
    assert set(document["components"]["schemas"]["EventType"]["enum"]) == EVENT_TYPES
    assert set(EVENT_TYPE_NAMES) == EVENT_TYPES
    schemas = document["components"]["schemas"]
    for name, item in document["webhooks"].items():
        body = item["post"]["requestBody"]["content"]["application/json"]
        envelope = schemas[body["schema"]["$ref"].rsplit("/", 1)[-1]]
        assert envelope["properties"]["type"]["const"] == name
        assert set(envelope["required"]) == {"id", "type", "created_at", "data"}
        data = schemas[envelope["properties"]["data"]["$ref"].rsplit("/", 1)[-1]]
        assert data["type"] == "object" and data["properties"] and data["required"], name
        signature = {p["name"] for p in item["post"]["parameters"]}
        assert signature == {"webhook-id", "webhook-timestamp", "webhook-signature"}
        assert not errors_of(validator(document, body["schema"]["$ref"]), body["example"])


def test_the_feed_documents_its_events_as_one_of_the_types(document):
    schemas = document["components"]["schemas"]
    events = schemas["EventPage"]["properties"]["events"]

    assert events["items"] == {"$ref": "#/components/schemas/Event"}
    assert schemas["Event"]["discriminator"]["propertyName"] == "type"
    assert set(schemas["Event"]["discriminator"]["mapping"]) == EVENT_TYPES
    assert len(schemas["Event"]["oneOf"]) == len(EVENT_TYPES)


def test_the_readme_table_lists_every_event_type():
    readme = (ROOT / "README.md").read_text()

    listed = re.findall(r"^\| `([a-z]+\.[a-z]+)` \|", readme, flags=re.MULTILINE)

    assert sorted(listed) == sorted(EVENT_TYPES)


def test_every_event_type_the_code_emits_is_documented():
    # A new event type in a service is a contract change: it needs its schema too.
    emitted = set()
    for app in ("conversations", "webhooks", "agents", "handoffs", "routing", "webchat"):
        for source in (ROOT / app).rglob("*.py"):
            if "migrations" not in source.parts:
                text = source.read_text()
                emitted |= set(re.findall(r"[\"']((?:handoff|message)\.[a-z_]+)[\"']", text))

    assert emitted <= EVENT_TYPES, emitted - EVENT_TYPES


@pytest.mark.django_db
def test_real_events_are_exactly_what_the_document_says(api, bot, agent, second_agent, document):
    LabelFactory(name="shipping")
    first = Handoff.objects.get(
        pk=api.post("/handoffs", handoff_body(timeout_seconds=60)).json()["id"]
    )
    services.assign_handoff(handoff=first, agent=agent)  # assigned + the assign message
    send_agent_message(handoff=first, agent=agent, text="Hello, I am Alice.")
    set_handoff_labels(handoff=first, names=["shipping"], agent=agent)  # updated
    services.transfer_handoff(handoff=first, by=agent, to=second_agent)  # transferred
    services.transfer_handoff(handoff=first, by=second_agent, to=None)  # requeued
    services.assign_handoff(handoff=first, agent=agent)
    services.resolve_handoff(handoff=first, agent=agent)
    api.post(f"/handoffs/{first.pk}/rating", {"score": 4, "comment": "Thanks"})  # rated
    second = api.post("/handoffs", handoff_body(conversation_id="th-2")).json()
    api.post(f"/handoffs/{second['id']}/reject")
    third = api.post("/handoffs", handoff_body(conversation_id="th-3", timeout_seconds=1)).json()
    services.expire_handoff(
        handoff=Handoff.objects.get(pk=third["id"]), now=timezone.now() + timedelta(seconds=5)
    )
    mapping = document["components"]["schemas"]["Event"]["discriminator"]["mapping"]
    strict = {name: validator(document, ref, strict=True) for name, ref in mapping.items()}
    one_of = validator(document, "#/components/schemas/Event", strict=True)

    events = [event.as_payload() for event in Event.objects.filter(bot=bot)]

    assert {event["type"] for event in events} == EVENT_TYPES
    for event in events:
        assert errors_of(strict[event["type"]], event) == [], event
        assert one_of.is_valid(event)
    # The feed hands out the same events, and its page conforms too.
    page = api.get("/events", {"limit": 500}).json()
    assert page["events"] == events
    assert not errors_of(validator(document, "#/components/schemas/EventPage", strict=True), page)


# --- Fields: descriptions, examples, timestamps -----------------------------------------------


def _leaf(schema: dict) -> bool:
    """A property holding a value rather than a documented object (or a list of them)."""
    options = schema.get("anyOf", [schema])
    for option in options:
        if "$ref" in option or "$ref" in option.get("items", {}):
            return False
    return True


def test_every_field_has_a_description_and_an_example(document):
    missing = []
    for name, schema in document["components"]["schemas"].items():
        for field, prop in schema.get("properties", {}).items():
            if not prop.get("description"):
                missing.append(f"{name}.{field}: description")
            if _leaf(prop) and not prop.get("examples") and "const" not in prop:
                missing.append(f"{name}.{field}: examples")
    for method, path, operation in operations(document):
        for parameter in operation["parameters"]:
            if not parameter.get("description") or "example" not in parameter:
                missing.append(f"{method} {path} {parameter['name']}")

    assert missing == []


def test_every_documented_example_matches_its_schema(document):
    schemas = document["components"]["schemas"]
    wrong = {}
    for name, schema in schemas.items():
        for example in schema.get("examples", []):
            if "properties" in schema:
                errors = errors_of(
                    validator(document, f"#/components/schemas/{name}", strict=True), example
                )
                if errors:
                    wrong[name] = errors
        for field, prop in schema.get("properties", {}).items():
            for example in prop.get("examples", []):
                check = jsonschema_rs.validator_for(
                    {"components": document["components"], **prop}, validate_formats=True
                )
                if not check.is_valid(example):
                    wrong[f"{name}.{field}"] = example

    assert wrong == {}


def test_response_timestamps_are_date_times(document):
    schemas = document["components"]["schemas"]
    for name, schema in schemas.items():
        if name.endswith("In"):
            continue
        for field, prop in schema.get("properties", {}).items():
            if field.endswith("_at"):
                formats = [option.get("format") for option in prop.get("anyOf", [prop])]
                assert "date-time" in formats, f"{name}.{field}"


# --- Operations ---------------------------------------------------------------------------------


def test_operation_ids_are_plain_names(document):
    ids = {
        (method, path): operation["operationId"] for method, path, operation in operations(document)
    }

    assert ids == OPERATION_IDS
    webhook_ids = [item["post"]["operationId"] for item in document["webhooks"].values()]
    for operation_id in [*ids.values(), *webhook_ids]:
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", operation_id), operation_id
    assert len(set(ids.values()) | set(webhook_ids)) == len(ids) + len(webhook_ids)


def test_every_operation_documents_its_errors_and_503_with_retry_after(document):
    for method, path, operation in operations(document):
        responses = operation["responses"]
        for status in ("401", "429", "503"):
            assert status in responses, f"{method} {path} {status}"
        for status in ("429", "503"):
            assert "Retry-After" in responses[status]["headers"]
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                example = response["content"]["application/json"]["example"]
                assert example["detail"] and response["description"] != "Unknown Status Code"


def test_each_documented_request_body_works_as_shown(api, bot, agent, document):
    # The handoff of a path: a resolved one, as a rating needs.
    resolved, _ = services.start_handoff(
        bot=bot, conversation_id="th-done", user_id="u-9", channel="whatsapp"
    )
    services.assign_handoff(handoff=resolved, agent=agent)
    services.resolve_handoff(handoff=resolved, agent=agent)
    posted = []
    for method, path, operation in operations(document):
        body = operation.get("requestBody")
        if body is None:
            continue
        media = body["content"]["application/json"]
        schema = document["components"]["schemas"][media["schema"]["$ref"].rsplit("/", 1)[-1]]
        assert media["example"] == schema["examples"][0]

        concrete = path.removeprefix("/api/v1").replace("{handoff_id}", str(resolved.pk))
        response = api.call(method.upper(), concrete, media["example"])

        assert response.status_code in {200, 201, 202}, (path, response.content)
        posted.append(path)
    assert posted == [
        "/api/v1/handoffs",
        "/api/v1/handoffs/{handoff_id}/rating",
        "/api/v1/messages",
        "/api/v1/typing",  # 202, no body
    ]


def test_each_documented_query_works_as_shown(api, document):
    for method, path, operation in operations(document):
        if method != "get" or "{" in path:
            continue
        params = {p["name"]: p["example"] for p in operation["parameters"] if p["in"] == "query"}

        response = api.get(path.removeprefix("/api/v1"), params)

        assert response.status_code == 200, (path, params, response.json())


# --- Strict bodies, plain words -------------------------------------------------------------------


def test_an_unknown_field_is_a_422_naming_it_and_the_field_meant(api):
    response = api.post("/handoffs", handoff_body(timeout=60))

    body = assert_error(response, 422, "timeout")
    assert body["detail"] == "The request has unknown fields: timeout."
    assert body["errors"][0]["message"] == 'Unknown field; did you mean "timeout_seconds"?'
    assert not Handoff.objects.exists()


def test_unknown_fields_are_refused_at_any_depth_and_on_every_body(api):
    history = [{"id": "m-1", "direction": "incoming", "txt": "hi"}]

    nested = assert_error(
        api.post("/handoffs", handoff_body(history=history)), 422, "history.0.txt"
    )
    relayed = assert_error(
        api.post("/messages", message_body(dirction="incoming")), 422, "dirction"
    )
    unlike = assert_error(api.post("/messages", message_body(colour="red")), 422, "colour")

    assert nested["errors"][0]["message"] == 'Unknown field; did you mean "text"?'
    assert relayed["errors"][0]["message"] == 'Unknown field; did you mean "direction"?'
    assert unlike["errors"][0]["message"].startswith("Unknown field; this object takes: ")
    assert "created_at" in unlike["errors"][0]["message"]


def test_free_form_objects_still_take_any_key(api):
    body = handoff_body(
        user={"fullName": "Ada", "anything": {"nested": 1}},
        history=[{"id": "m-1", "direction": "incoming", "payload": {"type": "location", "lat": 1}}],
    )

    assert api.post("/handoffs", body).status_code == 201


LIBRARY_WORDING = ("Value error", "after validation", "Input should", "Field required", "pydantic")


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"user": {"v": "x" * 17000}},
            "user",
            "User variables take 17008 bytes; the limit is 16384 bytes (16 KiB).",
        ),
        (
            {"history": [{"id": "m", "direction": "incoming"}] * 201},
            "history",
            "Must have at most 200 items (got 201).",
        ),
        ({"timeout_seconds": -1}, "timeout_seconds", "Must be 0 or more."),
        ({"timeout_seconds": "soon"}, "timeout_seconds", "Must be a whole number."),
        ({"priority": "urgent"}, "priority", 'Must be "normal" or "high".'),
        ({"conversation_id": ""}, "conversation_id", "Must not be empty."),
        ({"channel": "c" * 65}, "channel", "Must be at most 64 characters."),
        ({"user": ["a"]}, "user", "Must be a JSON object."),
        ({"labels": "shipping"}, "labels", "Must be a list."),
        ({"user_id": None}, "user_id", "Must be a string."),
        (
            {"history": [{"id": "m", "direction": "incoming", "created_at": "2026-13-01"}]},
            "history.0.created_at",
            "Must be an ISO-8601 date and time, e.g. 2026-03-01T12:00:00Z "
            "(month value is outside expected range of 1-12).",
        ),
    ],
)
def test_validation_messages_are_plain_words(api, overrides, field, message):
    body = assert_error(api.post("/handoffs", handoff_body(**overrides)), 422, field)

    assert body["errors"][0]["message"] == message


def test_no_message_uses_the_validation_librarys_wording(api):
    bad = {
        "conversation_id": None,
        "channel": 5.5,
        "user": {"v": "x" * 17000},
        "history": [{"id": "", "direction": "up", "created_at": "then", "payload": 3}],
        "timeout_seconds": 1.5,
        "labels": [[1]],
        "priority": None,
    }
    responses = [
        api.post("/handoffs", bad),
        api.post("/handoffs", {"history": [{}] * 201}),
        api.post("/messages", {"text": 3, "created_at": {}}),
        api.get("/events", {"limit": "x", "after": "y"}),
        api.get("/deliveries", {"status": "x", "limit": "600"}),
    ]

    for response in responses:
        assert response.status_code == 422
        for error in response.json()["errors"]:
            assert not any(words in error["message"] for words in LIBRARY_WORDING), error
        assert not any(words in response.json()["detail"] for words in LIBRARY_WORDING)
