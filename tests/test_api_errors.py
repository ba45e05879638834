"""The one error shape: malformed bodies, size limits, unknown paths, server errors."""

from __future__ import annotations

import json
import logging

import pytest
from asgiref.testing import ApplicationCommunicator
from django.test import RequestFactory

from api.endpoints import api as ninja_api
from conversations.models import Message
from hitlnext_project.asgi import application
from tests.api_support import BotApi, assert_error, message_body

LIMIT = 256 * 1024


@pytest.fixture
def api(client, bot):
    return BotApi(client, bot.api_key)


# --- Malformed bodies: 400 ------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "raw",
    ['{"conversation_id": ', "not json", "\xff\xfe", '{"a": NaN}', "[" * 100_000],
    ids=["truncated", "text", "bad-encoding", "nan", "too-deep"],
)
def test_malformed_json_is_400(api, raw):
    body = assert_error(api.post("/messages", raw=raw.encode("latin-1")), 400)
    assert "JSON" in body["detail"] or "nested" in body["detail"]
    assert not Message.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("raw", ["[]", '"a string"', "42", "null"])
def test_a_body_that_is_not_an_object_is_400(api, raw):
    body = assert_error(api.post("/handoffs", raw=raw), 400)
    assert body["detail"] == "The request body must be a JSON object."


@pytest.mark.django_db
def test_an_empty_body_is_400(api):
    body = assert_error(api.post("/handoffs"), 400)
    assert body["detail"] == "The request body must be a JSON object."


@pytest.mark.django_db
def test_authentication_comes_before_parsing(client):
    assert_error(BotApi(client, "wrong").post("/handoffs", raw="not json"), 401)


# --- Size: 413 ------------------------------------------------------------------------------


def padded_message(size: int) -> bytes:
    """A valid message body of exactly `size` bytes."""
    empty = json.dumps(message_body(text="")).encode()
    return json.dumps(message_body(text="x" * (size - len(empty)))).encode()


@pytest.mark.django_db
def test_a_body_of_exactly_256_kib_is_accepted(api):
    body = padded_message(LIMIT)
    assert len(body) == LIMIT

    assert api.post("/messages", raw=body).status_code == 201


@pytest.mark.django_db
@pytest.mark.parametrize("size", [LIMIT + 1, 3 * 1024 * 1024])
def test_a_body_over_256_kib_is_413_before_anything_else(api, size):
    # 3 MiB is past Django's DATA_UPLOAD_MAX_MEMORY_SIZE too: still our 413, not its 400.
    body = assert_error(api.post("/messages", raw=padded_message(size)), 413)
    assert "256 KiB" in body["detail"]
    assert not Message.objects.exists()


async def asgi_post(path: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> tuple:
    """POST through the real ASGI application, the body in 64 KiB chunks like a chunked
    upload, with exactly the headers given (so Content-Length can be absent or a lie)."""
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "POST",
        "path": path,
        "query_string": b"",
        "headers": [(b"host", b"localhost"), (b"content-type", b"application/json"), *headers],
    }
    communicator = ApplicationCommunicator(application, scope)
    chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)] or [b""]
    for n, chunk in enumerate(chunks):
        more = n < len(chunks) - 1
        await communicator.send_input({"type": "http.request", "body": chunk, "more_body": more})
    start = await communicator.receive_output(timeout=10)
    content = b""
    while True:
        message = await communicator.receive_output(timeout=10)
        content += message.get("body", b"")
        if not message.get("more_body"):
            break
    return start["status"], json.loads(content)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("size", "declared"),
    [(LIMIT + 1, None), (LIMIT + 1, b"100"), (3 * 1024 * 1024, None)],
    ids=["no-content-length", "understated", "past-django-limit"],
)
async def test_the_real_body_length_counts_not_only_the_header(size, declared):
    headers = [(b"content-length", declared)] if declared else []

    status, body = await asgi_post("/api/v1/messages", padded_message(size), headers)

    assert status == 413
    assert set(body) == {"detail", "errors"} and body["errors"] == []


# --- Unknown paths and methods, server errors ------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/"),
        ("GET", "/api/v1/nope"),
        ("POST", "/api/v1/handoffs/"),
        ("PUT", "/api/v1/x/y"),
    ],
)
def test_unknown_paths_under_the_api_are_json_404(api, method, path):
    response = api.client.generic(method, path, "{}", "application/json")

    assert_error(response, 404)


def test_a_server_error_is_json_500_and_logged(caplog):
    request = RequestFactory().post("/api/v1/handoffs")

    with caplog.at_level(logging.ERROR, logger="api.endpoints"):
        response = ninja_api.on_exception(request, RuntimeError("database on fire"))

    assert_error(response, 500)
    assert json.loads(response.content)["detail"] == "Internal server error."
    assert "database on fire" not in response.content.decode()
    assert "POST /api/v1/handoffs" in caplog.text
