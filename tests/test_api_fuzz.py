"""Property-based fuzzing of the bot API from its own OpenAPI document (schemathesis).

Every operation gets schema-conforming and schema-violating requests, authenticated as a real
bot, sent in-process through the WSGI application. Whatever comes in: never a 5xx, every
4xx in the one documented error shape, documented statuses and response bodies, and the API
still answers a plain request afterwards. Bounded: a few dozen examples per operation.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)
from werkzeug.test import Client

from conversations.models import Message
from handoffs.models import Handoff
from hitlnext_project.wsgi import application
from tests.api_support import BotApi, assert_error, message_body
from tests.factories import BotFactory, LabelFactory

EXAMPLES_PER_OPERATION = 25


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """As Django's test client does: a real WSGI request closes the database connection at
    its end, which would end the test's transaction (and its rollback) after one request."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def fuzz_bot(db, settings):
    settings.HITLNEXT_API_RATE_LIMIT = (0, 0)  # the fuzzer is not an abuser
    LabelFactory(name="shipping")
    return BotFactory(name="Fuzzed bot")


# Loaded at import through the app itself (no database needed for the document). Not
# schemathesis.pytest.from_fixture: its lazy loader writes `node._nodeid`, which pytest 9.2
# no longer has.
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)
schema.config.generation.update(max_examples=EXAMPLES_PER_OPERATION)


def assert_error_shape(response) -> None:
    """The contract's error body: {"detail": str, "errors": [{"field": str, "message": str}]}."""
    (content_type,) = response.headers["content-type"]  # lower-case names, list values
    assert content_type.startswith("application/json"), response.headers
    body = json.loads(response.content)
    assert set(body) == {"detail", "errors"}, body
    assert isinstance(body["detail"], str) and body["detail"], body
    assert isinstance(body["errors"], list), body
    for error in body["errors"]:
        assert set(error) == {"field", "message"}, body
        assert isinstance(error["field"], str) and isinstance(error["message"], str), body


@schema.parametrize()
@settings(
    deadline=None,
    derandomize=True,  # the same examples on every run: CI failures reproduce
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
    database=None,
)
def test_the_api_answers_any_request_within_its_contract(case, fuzz_bot):
    auth = {"Authorization": f"Bearer {fuzz_bot.api_key}"}

    response = case.call(headers=auth)

    case.validate_response(
        response,
        checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
        headers=auth,
    )
    if 400 <= response.status_code < 500:
        assert_error_shape(response)
    # Whatever that request did, the API still serves an ordinary one.
    assert Client(application).get("/api/v1/agents", headers=auth).status_code == 200


# --- What the fuzzer found (kept as plain regression tests) -----------------------------------


@pytest.fixture
def api(client, fuzz_bot):
    return BotApi(client, fuzz_bot.api_key)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"conversation_id": "th-1", "user_id": "u\\u0000", "channel": "web"}', "user_id"),
        (
            '{"conversation_id": "th-1", "user_id": "u", "channel": "web", '
            '"user": {"notes": ["ok", "\\ud800"]}}',
            "user.notes.1",
        ),
        (
            '{"conversation_id": "th-1", "user_id": "u", "channel": "web", "user": {"\\u0000": 1}}',
            "user",
        ),
    ],
    ids=["nul-in-field", "lone-surrogate-nested", "nul-in-key"],
)
def test_text_no_database_can_store_is_a_400_naming_the_field(api, raw, field):
    # PostgreSQL refused NUL with a 500; unpaired surrogates failed to encode on both.
    body = assert_error(api.post("/handoffs", raw=raw), 400, field)
    assert "cannot be stored" in body["detail"]
    assert not Handoff.objects.exists()


def test_an_idempotency_key_with_control_characters_is_a_422(api):
    response = api.post("/messages", message_body(), headers={"Idempotency-Key": "k\x00"})

    assert_error(response, 422, "Idempotency-Key")
    assert not Message.objects.exists()


def test_every_status_the_api_can_answer_is_documented(client):
    document = client.get("/api/v1/openapi.json").json()

    # An Idempotency-Key reused with another body is a 409 on POST /messages too.
    assert "409" in document["paths"]["/api/v1/messages"]["post"]["responses"]
