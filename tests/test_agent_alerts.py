"""The agent's alert settings: browser notifications (opt-in) and the new-handoff sound (on by
default), saved in the profile and handed to every page on <body>."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from agents.models import AgentProfile

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def body_settings(html: str) -> dict[str, str]:
    body = re.search(r"<body[^>]*>", html, flags=re.DOTALL)
    assert body is not None
    return dict(re.findall(r'data-(sound|notifications)="([^"]*)"', body.group()))


def test_new_agents_hear_the_sound_and_get_no_notifications(agent):
    profile = AgentProfile.objects.get(user=agent)
    assert (profile.play_sound, profile.browser_notifications) == (True, False)

    html = logged_in(agent).get("/").content.decode()

    assert body_settings(html) == {"sound": "on", "notifications": "off"}


def test_the_profile_shows_both_settings_as_labelled_checkboxes(agent):
    html = logged_in(agent).get("/profile/").content.decode()

    assert '<label for="id_browser_notifications">Browser notifications</label>' in html
    assert '<label for="id_play_sound">Play a sound</label>' in html
    assert re.search(r'<input type="checkbox" name="play_sound"[^>]*checked', html)
    assert not re.search(r'<input type="checkbox" name="browser_notifications"[^>]*checked', html)
    assert 'aria-describedby="id_browser_notifications-help"' in html


def test_the_profile_saves_the_settings_and_every_page_carries_them(agent):
    client = logged_in(agent)

    response = client.post(
        "/profile/", {"first_name": "Alice", "last_name": "Martin", "browser_notifications": "on"}
    )

    assert response.status_code == 302
    profile = AgentProfile.objects.get(user=agent)
    assert (profile.browser_notifications, profile.play_sound) == (True, False)
    for url in ("/", "/profile/"):
        assert body_settings(client.get(url).content.decode()) == {
            "sound": "off",
            "notifications": "on",
        }


def test_the_htmx_answer_shows_the_saved_settings(agent):
    response = logged_in(agent).post(
        "/profile/", {"first_name": "A", "last_name": "M", "play_sound": "on"}, **HTMX
    )

    html = response.content.decode()
    assert response.status_code == 200 and "Profile saved." in html
    assert re.search(r'<input type="checkbox" name="play_sound"[^>]*checked', html)
    assert not re.search(r'<input type="checkbox" name="browser_notifications"[^>]*checked', html)


def test_saving_the_settings_leaves_presence_alone(agent):
    AgentProfile.objects.filter(user=agent).update(online=True)

    logged_in(agent).post("/profile/", {"first_name": "A", "last_name": "M"})

    profile = AgentProfile.objects.get(user=agent)
    assert profile.online and not profile.play_sound


def test_an_invalid_form_saves_no_setting(agent):
    response = logged_in(agent).post(
        "/profile/",
        {"first_name": "A" * 151, "last_name": "M", "browser_notifications": "on"},
        **HTMX,
    )

    assert response.status_code == 422
    assert not AgentProfile.objects.get(user=agent).browser_notifications
