"""The icon: linked from every page, and /favicon.ico (asked for by browsers anyway) leads to it."""

from __future__ import annotations

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

ICON = "/static/hitlnext/favicon.svg"


def test_favicon_ico_redirects_to_the_svg_icon(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 301
    assert response["Location"] == ICON
    assert finders.find("hitlnext/favicon.svg") is not None


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/login/", "/chat/", "/chat/demo/"])
def test_pages_link_the_icon(url):
    html = Client().get(url).content.decode()

    assert f'<link rel="icon" href="{ICON}" type="image/svg+xml">' in html


def test_agent_pages_link_the_icon(client, agent):
    client.force_login(agent)

    assert f'<link rel="icon" href="{ICON}"' in client.get("/").content.decode()
