"""Login, logout, profile (names and avatar) and the header's "Online" switch."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from agents.models import AgentProfile
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def image_file(fmt: str = "PNG", size: tuple[int, int] = (8, 8), name: str = "me.png"):
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format=fmt)
    return SimpleUploadedFile(name, buffer.getvalue(), content_type=f"image/{fmt.lower()}")


def logged_in(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


@pytest.mark.parametrize("url", ["/", "/profile/", "/handoffs/1/", "/inbox/list/"])
def test_agent_pages_send_a_logged_out_visitor_to_the_login(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_login_page_has_the_contract_labels(client):
    response = client.get("/login/")

    html = response.content.decode()
    assert response.status_code == 200
    assert ">Username</label>" in html
    assert ">Password</label>" in html
    assert ">Log in</button>" in html


def test_login_lands_on_the_inbox(client, agent):
    response = client.post(
        "/login/", {"username": "alice", "password": "correct-horse-battery"}, follow=True
    )

    assert response.redirect_chain[-1][0] == "/"
    assert 'aria-label="Handoffs"' in response.content.decode()


def test_wrong_password_is_refused(client, agent):
    response = client.post("/login/", {"username": "alice", "password": "nope"})

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_logout_is_post_only_and_sets_the_agent_offline(agent):
    client = logged_in(agent)

    assert client.get("/logout/").status_code == 405
    response = client.post("/logout/")

    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert not AgentProfile.objects.get(user=agent).online
    assert client.get("/").status_code == 302


def test_logout_needs_the_csrf_token(agent):
    client = logged_in(agent, enforce_csrf_checks=True)

    assert client.post("/logout/").status_code == 403
    assert AgentProfile.objects.get(user=agent).online


def test_every_page_shows_the_online_switch(offline_agent):
    html = logged_in(offline_agent).get("/profile/").content.decode()

    assert 'role="switch"' in html
    assert 'aria-checked="false"' in html
    assert ">Online</span>" in html


def test_switch_goes_online_and_back(offline_agent):
    client = logged_in(offline_agent)

    on = client.post("/presence/", {"online": "true"}, **HTMX)
    assert on.status_code == 200
    assert 'aria-checked="true"' in on.content.decode()
    profile = AgentProfile.objects.get(user=offline_agent)
    assert profile.online and profile.session_expires_at is not None

    off = client.post("/presence/", {"online": "false"}, **HTMX)
    assert 'aria-checked="false"' in off.content.decode()
    assert not AgentProfile.objects.get(user=offline_agent).online


def test_switch_refuses_get_anonymous_and_missing_csrf(client, offline_agent):
    assert client.post("/presence/", {"online": "true"}).status_code == 302
    assert logged_in(offline_agent).get("/presence/").status_code == 405
    csrf_client = logged_in(offline_agent, enforce_csrf_checks=True)
    assert csrf_client.post("/presence/", {"online": "true"}).status_code == 403
    assert not AgentProfile.objects.get(user=offline_agent).online


def test_header_lists_online_agents_with_initials(agent, second_agent, offline_agent):
    html = logged_in(agent).get("/profile/").content.decode()

    assert 'aria-label="Online agents"' in html
    assert "Alice Martin" in html and "Bob Stone" in html
    assert "Carol Ng" not in html
    assert ">BS</span>" in html


def test_profile_saves_names_and_avatar(agent):
    client = logged_in(agent)

    response = client.post(
        "/profile/", {"first_name": "Alicia", "last_name": "M.", "avatar": image_file()}
    )

    assert response.status_code == 302
    agent.refresh_from_db()
    profile = AgentProfile.objects.get(user=agent)
    assert (agent.first_name, agent.last_name) == ("Alicia", "M.")
    assert profile.avatar.name.startswith("avatars/") and profile.avatar.name.endswith(".png")
    assert "me.png" not in profile.avatar.name  # the uploader's file name is not kept


@pytest.mark.parametrize("fmt,name", [("JPEG", "me.jpg"), ("GIF", "me.gif"), ("WEBP", "me.webp")])
def test_profile_accepts_the_other_image_types(agent, fmt, name):
    response = logged_in(agent).post(
        "/profile/", {"first_name": "A", "last_name": "M", "avatar": image_file(fmt, name=name)}
    )

    assert response.status_code == 302
    assert AgentProfile.objects.get(user=agent).avatar


def test_profile_refuses_a_file_that_is_not_an_image(agent):
    fake = SimpleUploadedFile("me.png", b"<svg>not a png</svg>", content_type="image/png")

    response = logged_in(agent).post(
        "/profile/", {"first_name": "A", "last_name": "M", "avatar": fake}, **HTMX
    )

    assert response.status_code == 422
    assert 'class="field-error"' in response.content.decode()
    assert not AgentProfile.objects.get(user=agent).avatar


def test_profile_refuses_an_image_type_outside_the_list(agent):
    response = logged_in(agent).post(
        "/profile/",
        {"first_name": "A", "last_name": "M", "avatar": image_file("BMP", name="me.bmp")},
        **HTMX,
    )

    assert response.status_code == 422
    assert "PNG, JPEG, GIF or WebP" in response.content.decode()


def test_profile_refuses_an_avatar_over_one_mebibyte(agent):
    big = SimpleUploadedFile("big.png", image_file("PNG").read() + b"\0" * (1024 * 1024))

    response = logged_in(agent).post(
        "/profile/", {"first_name": "A", "last_name": "M", "avatar": big}, **HTMX
    )

    assert response.status_code == 422
    assert "1 MiB or smaller" in response.content.decode()


def test_profile_htmx_answer_is_the_form_with_a_notice(agent):
    response = logged_in(agent).post("/profile/", {"first_name": "Al", "last_name": "M"}, **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<form id="profile-form"')
    assert "Profile saved." in html


def test_profile_can_remove_the_avatar(agent):
    client = logged_in(agent)
    client.post("/profile/", {"first_name": "A", "last_name": "M", "avatar": image_file()})

    client.post("/profile/", {"first_name": "A", "last_name": "M", "remove_avatar": "on"})

    assert not AgentProfile.objects.get(user=agent).avatar


def test_profile_refuses_other_methods_and_missing_csrf(agent):
    assert logged_in(agent).put("/profile/").status_code == 405
    response = logged_in(agent, enforce_csrf_checks=True).post(
        "/profile/", {"first_name": "X", "last_name": "Y"}
    )
    assert response.status_code == 403
    agent.refresh_from_db()
    assert agent.first_name == "Alice"


def test_profile_of_a_user_without_profile_row_is_created(db):
    user = UserFactory()
    AgentProfile.objects.filter(user=user).delete()

    assert logged_in(user).get(reverse("profile")).status_code == 200
    assert AgentProfile.objects.filter(user=user).exists()
