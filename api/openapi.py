"""What the OpenAPI document says beyond what django-ninja derives from the endpoints: the
events (OpenAPI 3.1 `webhooks` and the `Event` schema), whole-body examples (what Swagger's
"Try it out" sends), each error status explained with an example, and `Retry-After`.
"""

from __future__ import annotations

from typing import Any

from ninja.openapi.schema import REF_TEMPLATE
from ninja.schema import NinjaGenerateJsonSchema

from api.events import EVENT_TYPE_NAMES, EVENT_TYPES, any_event, example_event

JSON = "application/json"

# What each error status means here, and an example body of it.
ERRORS: dict[str, tuple[str, str, list[dict[str, str]]]] = {
    "400": (
        "Malformed JSON, or a body that is not a JSON object.",
        "The request body is not valid JSON: Expecting value: line 1 column 1 (char 0).",
        [],
    ),
    "401": (
        "Missing or invalid API key.",
        "Missing or invalid API key: send 'Authorization: Bearer <key>'.",
        [],
    ),
    "404": ("An unknown id, or another bot's object.", "Not found.", []),
    "409": (
        "The handoff's state forbids it, or an Idempotency-Key reused with another request.",
        "Handoff #17 is resolved: it cannot be rejected.",
        [],
    ),
    "413": ("The body is over 256 KiB.", "The request body is larger than 256 KiB.", []),
    "422": (
        "Invalid or unknown fields, each named in `errors`.",
        "The request has unknown fields: timeout.",
        [{"field": "timeout", "message": 'Unknown field; did you mean "timeout_seconds"?'}],
    ),
    "429": (
        "Too many requests with this key: retry after `Retry-After` seconds.",
        "Too many requests: this bot may retry in 12 s.",
        [],
    ),
    "503": (
        "The database is unavailable and nothing was written: retry after `Retry-After` seconds.",
        "The service is temporarily unavailable; retry the request shortly.",
        [],
    ),
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer", "minimum": 0},
        "example": 5,
    }
}

SIGNATURE_HEADERS = [
    {
        "in": "header",
        "name": "webhook-id",
        "required": True,
        "schema": {"type": "string"},
        "example": "evt_018e0f5a3c00a1b2c3d4e5f6a7b8c9d0e1f2",
        "description": "The event id: the same on every retry, so de-duplicate on it.",
    },
    {
        "in": "header",
        "name": "webhook-timestamp",
        "required": True,
        "schema": {"type": "string"},
        "example": "1772366442",
        "description": "Unix seconds of this attempt; refuse one too far from now.",
    },
    {
        "in": "header",
        "name": "webhook-signature",
        "required": True,
        "schema": {"type": "string"},
        "example": "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
        "description": "Standard Webhooks: `v1,` + base64 HMAC-SHA256 of "
        '"{webhook-id}.{webhook-timestamp}.{body}" keyed with the base64-decoded part of the '
        "bot's `whsec_` secret.",
    },
]
WEBHOOK_RESPONSES = {
    "2XX": {"description": "Received. Answer fast; do the work afterwards."},
    "410": {
        "description": "Gone: hitlnext stops sending to this endpoint until an admin "
        "enables it again (nothing is dropped meanwhile)."
    },
    "default": {
        "description": "Any other answer, or none within HITLNEXT_WEBHOOK_TIMEOUT, is retried "
        "with exponential backoff (and never before a `Retry-After`)."
    },
}


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """Add to ninja's document (in place) what it cannot derive; returns it."""
    schemas = document["components"]["schemas"]
    _add_event_schemas(schemas)
    document["webhooks"] = _webhooks()
    for operations in document["paths"].values():
        for operation in operations.values():
            _complete_operation(operation, schemas)
    return document


def _add_event_schemas(schemas: dict[str, Any]) -> None:
    event = any_event.json_schema(
        ref_template=REF_TEMPLATE, schema_generator=NinjaGenerateJsonSchema, mode="serialization"
    )
    schemas.update(event.pop("$defs"))
    schemas["Event"] = {
        **event,
        "title": "Event",
        "description": "One event, as the webhook delivers it and the feed lists it.",
    }
    schemas["EventType"] = {
        "type": "string",
        "enum": list(EVENT_TYPE_NAMES),
        "title": "EventType",
        "description": "Every event type (the `webhooks` section describes each one).",
        "examples": ["handoff.assigned"],
    }
    # The feed's runtime schemas take any stored event (so none is lost to a schema it
    # predates); the document says what each one holds.
    page = schemas["EventPage"]
    page["properties"]["events"]["items"] = {"$ref": REF_TEMPLATE.format(model="Event")}
    page["examples"] = [{"events": [example_event(EVENT_TYPES[0])], "next_cursor": "1042"}]
    del schemas["EventOut"]
    event_type = schemas["DeliveryEventRef"]["properties"]["type"]
    schemas["DeliveryEventRef"]["properties"]["type"] = {
        "$ref": REF_TEMPLATE.format(model="EventType"),
        "description": event_type["description"],
        "examples": event_type["examples"],
    }


def _webhooks() -> dict[str, Any]:
    return {
        event_type.name: {
            "post": {
                "operationId": "on_" + event_type.name.replace(".", "_"),
                "summary": event_type.name,
                "description": event_type.when
                + " Sent to the bot's webhook URL (and listed by GET /api/v1/events).",
                "parameters": SIGNATURE_HEADERS,
                "requestBody": {
                    "required": True,
                    "content": {
                        JSON: {
                            "schema": {
                                "$ref": REF_TEMPLATE.format(model=event_type.envelope.__name__)
                            },
                            "example": example_event(event_type),
                        }
                    },
                },
                "responses": WEBHOOK_RESPONSES,
            }
        }
        for event_type in EVENT_TYPES
    }


def _complete_operation(operation: dict[str, Any], schemas: dict[str, Any]) -> None:
    body = operation.get("requestBody", {}).get("content", {}).get(JSON)
    if body is not None:
        _example_from_schema(body, schemas)
    # ninja's status keys are ints until the document is rendered as JSON.
    for status, response in operation["responses"].items():
        if str(status) in ERRORS:
            description, detail, errors = ERRORS[str(status)]
            response["description"] = description
            response["content"][JSON]["example"] = {"detail": detail, "errors": errors}
            if str(status) in {"429", "503"}:
                response["headers"] = RETRY_AFTER
        elif JSON in response.get("content", {}):
            _example_from_schema(response["content"][JSON], schemas)
    for parameter in operation.get("parameters", []):
        # ninja copies the schema's `examples` list, but a parameter's `examples` is a map
        # of Example Objects in OpenAPI: give the first as `example`.
        examples = parameter.pop("examples", None)
        if examples:
            parameter["example"] = examples[0]


def _example_from_schema(media: dict[str, Any], schemas: dict[str, Any]) -> None:
    """The model's whole example becomes the media type's, which Swagger UI sends as is."""
    ref = media["schema"].get("$ref", "")
    examples = schemas.get(ref.rsplit("/", 1)[-1], {}).get("examples")
    if examples:
        media["example"] = examples[0]
