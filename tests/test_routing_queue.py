"""The queue's order, priority through the API, capacity and the routing settings."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from agents.models import AgentProfile
from handoffs.models import Handoff
from routing.queue import queue
from tests.api_support import BotApi, assert_error, handoff_body
from tests.routing_support import queued
from tests.workers import BASE_DIR
from webhooks.models import Event

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, bot):
    return BotApi(client, bot.api_key)


def test_queue_serves_high_priority_first_then_oldest_first(bot):
    normal_old = queued(bot, age_minutes=30)
    high_new = queued(bot, age_minutes=1, priority="high")
    normal_new = queued(bot, age_minutes=2)
    high_old = queued(bot, age_minutes=10, priority="high")
    assigned = queued(bot, age_minutes=60)
    Handoff.objects.filter(pk=assigned.pk).update(status=Handoff.Status.ASSIGNED)

    assert list(queue()) == [high_old, high_new, normal_old, normal_new]


def test_queue_breaks_equal_creation_times_by_id(bot):
    first, second = queued(bot), queued(bot)
    Handoff.objects.update(created_at=first.created_at)

    assert list(queue()) == [first, second]


def test_api_starts_a_high_priority_handoff_and_shows_it(api):
    response = api.post("/handoffs", handoff_body(priority="high"))

    assert response.status_code == 201
    assert response.json()["priority"] == "high"
    assert Handoff.objects.get().priority == "high"
    event = Event.objects.get(type="handoff.created")
    assert event.data["handoff"]["priority"] == "high"


def test_api_priority_defaults_to_normal(api):
    response = api.post("/handoffs", handoff_body())

    assert response.status_code == 201
    assert response.json()["priority"] == "normal"
    assert api.get(f"/handoffs/{response.json()['id']}").json()["priority"] == "normal"


@pytest.mark.parametrize("value", ["urgent", "HIGH", "", None, 1, ["high"]])
def test_api_refuses_an_unknown_priority_naming_the_field(api, value):
    response = api.post("/handoffs", handoff_body(priority=value))

    assert_error(response, 422, "priority")
    assert not Handoff.objects.exists()


def test_openapi_describes_priority_in_and_out(api):
    schemas = api.get("/openapi.json").json()["components"]["schemas"]

    field_in = schemas["HandoffIn"]["properties"]["priority"]
    assert field_in["enum"] == ["normal", "high"] and field_in["default"] == "normal"
    assert field_in["description"]
    assert "priority" in schemas["HandoffOut"]["required"]


def test_capacity_defaults_to_the_setting_and_zero_is_unlimited(settings, agent):
    settings.HITLNEXT_AGENT_CAPACITY = 4
    profile = AgentProfile.objects.get(user=agent)
    assert profile.capacity is None and profile.effective_capacity == 4

    profile.capacity = 0
    assert profile.effective_capacity == 0
    profile.capacity = 2
    assert profile.effective_capacity == 2


@pytest.mark.parametrize(
    ("languages", "language", "speaks"),
    [
        ("en, fr", "fr", True),
        ("en, fr", "FR-ca", True),
        ("fr-CA", "fr", False),
        ("pt_BR", "pt-br", True),
        ("", "en", False),
        ("en", "eng", False),
    ],
)
def test_an_agent_speaks_the_languages_of_their_profile(languages, language, speaks):
    assert AgentProfile(languages=languages).speaks(language) is speaks


def _check(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR,
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("HITLNEXT_ASSIGNMENT", "round-robin", "is not manual or auto"),
        ("HITLNEXT_AGENT_CAPACITY", "three", "is not a whole number"),
        ("HITLNEXT_AGENT_CAPACITY", "-1", "must be at least 0"),
        ("HITLNEXT_REASSIGN_AFTER", "soon", "is not a duration"),
    ],
)
def test_routing_settings_fail_fast_on_nonsense(name, value, says):
    result = _check(**{name: value})

    assert result.returncode != 0
    assert name in result.stderr and says in result.stderr


def test_routing_settings_defaults_and_case():
    printed = "print(s.HITLNEXT_ASSIGNMENT, s.HITLNEXT_AGENT_CAPACITY, s.HITLNEXT_REASSIGN_AFTER)"
    command = [sys.executable, "manage.py", "shell", "-c"]
    command.append(f"from django.conf import settings as s; {printed}")
    clean = {
        "HITLNEXT_ASSIGNMENT": "",
        "HITLNEXT_AGENT_CAPACITY": "",
        "HITLNEXT_REASSIGN_AFTER": "",
    }

    def run(**env: str) -> str:
        result = subprocess.run(
            command,
            cwd=BASE_DIR,
            env=os.environ | clean | env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip().splitlines()[-1]

    assert run() == "manual 3 0:00:00"
    assert run(HITLNEXT_ASSIGNMENT=" Auto ", HITLNEXT_REASSIGN_AFTER="5m") == "auto 3 0:05:00"
