"""A bot's view of the API in tests: the Django test client with the bot's key."""

from __future__ import annotations

import json

from django.test import Client

BASE = "/api/v1"


class BotApi:
    def __init__(self, client: Client, key: str | None) -> None:
        self.client = client
        self.key = key

    def _headers(self, headers: dict | None) -> dict:
        auth = {"Authorization": f"Bearer {self.key}"} if self.key is not None else {}
        return auth | (headers or {})

    def get(self, path: str, params: dict | None = None, *, headers: dict | None = None):
        return self.client.get(BASE + path, params or {}, headers=self._headers(headers))

    def post(self, path: str, body=None, *, raw: bytes | str | None = None, headers=None):
        data = raw if raw is not None else ("" if body is None else json.dumps(body))
        return self.client.post(
            BASE + path, data, content_type="application/json", headers=self._headers(headers)
        )

    def call(self, method: str, path: str, body=None, *, headers: dict | None = None):
        data = "" if body is None else json.dumps(body)
        return self.client.generic(
            method, BASE + path, data, "application/json", headers=self._headers(headers)
        )


def handoff_body(**overrides) -> dict:
    return {"conversation_id": "th-42", "user_id": "u-7", "channel": "whatsapp"} | overrides


def message_body(**overrides) -> dict:
    return {
        "conversation_id": "th-42",
        "user_id": "u-7",
        "channel": "whatsapp",
        "id": "m-1",
        "direction": "incoming",
        "text": "Hello?",
    } | overrides


def assert_error(response, status: int, *fields: str) -> dict:
    """The one error shape; `fields` are the dotted paths expected in `errors`."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = json.loads(response.content)
    assert set(body) == {"detail", "errors"}
    assert isinstance(body["detail"], str) and body["detail"]
    assert [e["field"] for e in body["errors"]] == list(fields)
    assert all(e["message"] for e in body["errors"])
    return body
