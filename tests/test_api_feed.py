"""GET /api/v1/events and /api/v1/agents, and the API's own documentation."""

from __future__ import annotations

import re

import pytest

from handoffs import services
from handoffs.models import Handoff
from tests.api_support import BotApi, assert_error, handoff_body
from tests.factories import HandoffFactory, UserFactory
from webhooks.models import Event

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, bot):
    return BotApi(client, bot.api_key)


def start(api, n: int) -> int:
    return api.post("/handoffs", handoff_body(conversation_id=f"th-{n}")).json()["id"]


# --- Events ---------------------------------------------------------------------------------


def test_events_page_through_with_the_cursor_oldest_first(api, bot):
    for n in range(3):
        start(api, n)  # handoff.created + message.created (transfer) each
    expected = [e.as_payload() for e in Event.objects.filter(bot=bot).order_by("pk")]
    assert len(expected) == 6

    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 4} | ({"after": cursor} if cursor is not None else {})
        page = api.get("/events", params).json()
        pages += 1
        if not page["events"]:
            assert page["next_cursor"] == cursor  # an empty page keeps the cursor
            break
        seen += page["events"]
        cursor = page["next_cursor"]

    assert seen == expected
    assert pages == 3  # 4 + 2 + the empty one


def test_events_after_the_cursor_include_only_newer_ones(api):
    start(api, 1)
    cursor = api.get("/events").json()["next_cursor"]
    handoff_id = start(api, 2)

    page = api.get("/events", {"after": cursor}).json()

    assert [e["type"] for e in page["events"]] == ["handoff.created", "message.created"]
    assert page["events"][0]["data"]["handoff"]["id"] == handoff_id
    assert int(page["next_cursor"]) > int(cursor)


def test_events_default_limit_is_100(api, bot):
    conversation = HandoffFactory(conversation__bot=bot).conversation
    Event.objects.bulk_create(
        Event(bot=bot, conversation=conversation, type="handoff.updated", data={})
        for _ in range(101)
    )

    assert len(api.get("/events").json()["events"]) == 100


def test_events_of_another_bot_never_show(api, other_bot, bot):
    BotApi(api.client, other_bot.api_key).post("/handoffs", handoff_body())

    page = api.get("/events").json()

    assert page == {"events": [], "next_cursor": "0"}


def test_an_event_has_the_webhook_shape(api, bot):
    start(api, 1)

    event = api.get("/events", {"limit": 1}).json()["events"][0]

    assert set(event) == {"id", "type", "created_at", "data"}
    assert event["id"].startswith("evt_")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", event["created_at"])
    assert event["data"]["handoff"]["conversation_id"] == "th-1"


@pytest.mark.parametrize("after", ["abc", "-1", "1.5", "9" * 20, "١٢"])
def test_a_bad_cursor_is_422_on_after(api, after):
    assert_error(api.get("/events", {"after": after}), 422, "after")


@pytest.mark.parametrize("limit", ["0", "501", "many"])
def test_a_bad_limit_is_422_on_limit(api, limit):
    assert_error(api.get("/events", {"limit": limit}), 422, "limit")


# --- Agents ---------------------------------------------------------------------------------


def test_agents_lists_presence_and_open_handoffs(api, bot, agent, second_agent, offline_agent):
    for _ in range(2):
        services.assign_handoff(handoff=HandoffFactory(conversation__bot=bot), agent=agent)
    done = HandoffFactory(conversation__bot=bot)
    services.assign_handoff(handoff=done, agent=second_agent)
    services.resolve_handoff(handoff=done, agent=second_agent)
    HandoffFactory(conversation__bot=bot)  # pending: nobody's
    UserFactory(username="gone", is_active=False)

    response = api.get("/agents")

    assert response.status_code == 200
    assert response.json() == {
        "agents": [
            {
                "id": agent.pk,
                "username": "alice",
                "name": "Alice Martin",
                "online": True,
                "open_handoffs": 2,
                "capacity": 3,
            },
            {
                "id": second_agent.pk,
                "username": "bob",
                "name": "Bob Stone",
                "online": True,
                "open_handoffs": 0,
                "capacity": 3,
            },
            {
                "id": offline_agent.pk,
                "username": "carol",
                "name": "Carol Ng",
                "online": False,
                "open_handoffs": 0,
                "capacity": 3,
            },
        ]
    }


def test_a_user_without_agent_profile_is_listed_offline(api, django_user_model):
    admin = django_user_model.objects.create_user(username="admin", password="x" * 12)

    assert api.get("/agents").json()["agents"] == [
        {
            "id": admin.pk,
            "username": "admin",
            "name": "admin",
            "online": False,
            "open_handoffs": 0,
            "capacity": 3,
        }
    ]


def test_agents_is_one_query_however_many_agents(api, bot, django_assert_num_queries):
    for n in range(6):
        user = UserFactory(online=True)
        if n % 2:
            services.assign_handoff(handoff=HandoffFactory(conversation__bot=bot), agent=user)

    # One query to authenticate the bot, one for the agents with their counts.
    with django_assert_num_queries(2):
        agents = api.get("/agents").json()["agents"]
    assert sorted(a["open_handoffs"] for a in agents) == [0, 0, 0, 1, 1, 1]
    assert Handoff.objects.filter(status="assigned").count() == 3


# --- Documentation --------------------------------------------------------------------------


def test_openapi_document_lists_every_path(client):
    response = client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    document = response.json()
    assert set(document["paths"]) == {
        "/api/v1/handoffs",
        "/api/v1/handoffs/{handoff_id}",
        "/api/v1/handoffs/{handoff_id}/reject",
        "/api/v1/handoffs/{handoff_id}/rating",
        "/api/v1/messages",
        "/api/v1/typing",
        "/api/v1/agents",
        "/api/v1/events",
        "/api/v1/labels",
        "/api/v1/deliveries",
    }
    assert document["components"]["securitySchemes"]["BotKey"]["scheme"] == "bearer"
    create = document["paths"]["/api/v1/handoffs"]["post"]
    assert {"201", "200", "400", "401", "409", "413", "422"} <= set(create["responses"])
    assert "Idempotency-Key" in [p["name"] for p in create["parameters"]]


def test_docs_page_loads_nothing_from_another_site(client):
    response = client.get("/api/v1/docs")

    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui-bundle.js" in html
    assets = re.findall(r"<(?:script|link)\b[^>]*\b(?:src|href)=[\"']([^\"']+)", html)
    assert assets, "the page should reference its scripts and styles"
    assert [a for a in assets if re.match(r"(?:https?:)?//", a)] == []
