"""The WSGI variant of the scale-out deployment in a real browser: Chromium talks to nginx only
(deploy/nginx.conf, made local), which sends the pages and the bot API to gunicorn and /ws/ to
Daphne (tests/deploy_wsgi.py). A handoff the bot starts on gunicorn appears live in the agent's
inbox through Redis and Daphne; the agent assigns and answers, and the bot's webhook gets the
answer from the worker."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from playwright.sync_api import Browser, expect

from e2e.helpers import go_online, log_in

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql" or not settings.REDIS_URL,
        reason="the WSGI deployment needs DATABASE_URL=postgres://... and REDIS_URL=redis://...",
    ),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(scope="module")
def deployment(django_db_setup, django_db_blocker):
    from tests.deploy_wsgi import NGINX, wsgi_deployment
    from tests.workers import current_database_url

    if not Path(NGINX).exists():
        pytest.skip("nginx is not installed (dev.py test installs Debian's nginx)")
    with django_db_blocker.unblock():
        database_url = current_database_url()
    with wsgi_deployment(
        database_url=database_url, redis_url=settings.REDIS_URL, secret_key=settings.SECRET_KEY
    ) as deployment:
        yield deployment


def test_behind_nginx_an_agent_sees_a_handoff_from_gunicorn_live_and_the_bot_gets_the_answer(
    browser: Browser, deployment, bot, agent
):
    import httpx

    from tests.webhooks import WebhookReceiver

    with WebhookReceiver() as receiver:
        bot.webhook_url = receiver.url
        bot.save()
        page = browser.new_context().new_page()
        log_in(page, deployment.url, agent.username)
        go_online(page)
        handoffs = page.get_by_role("region", name="Handoffs")
        name = f"Grace {uuid.uuid4().hex[:6]}"

        with httpx.Client(
            base_url=f"{deployment.url}/api/v1",
            headers={"Authorization": f"Bearer {bot.api_key}"},
            timeout=30,
        ) as api:
            created = api.post(
                "/handoffs",
                json={
                    "conversation_id": "th-wsgi",
                    "user_id": "u-wsgi",
                    "channel": "whatsapp",
                    "user": {"fullName": name},
                },
            )
            assert created.status_code == 201, created.text
            relayed = api.post(
                "/messages",
                json={
                    "conversation_id": "th-wsgi",
                    "user_id": "u-wsgi",
                    "channel": "whatsapp",
                    "id": "m-wsgi-1",
                    "direction": "incoming",
                    "text": "Where is my parcel?",
                },
            )
            assert relayed.status_code == 201, relayed.text

        # Pushed: the page was loaded before the handoff existed and is never reloaded.
        item = handoffs.get_by_role("link").filter(has_text=name)
        expect(item).to_be_visible()
        expect(item).to_contain_text("Where is my parcel?")
        item.click()
        messages = page.get_by_role("region", name="Messages")
        expect(messages.get_by_role("heading", name=name)).to_be_visible()
        messages.get_by_role("button", name="Assign to me").click()
        composer = messages.get_by_role("textbox", name="Message")
        composer.fill("It left the warehouse this morning.")
        composer.press("Enter")
        expect(
            messages.get_by_role("article").filter(has_text="It left the warehouse")
        ).to_be_visible()

        deadline = time.monotonic() + 60
        texts: list[str] = []
        while time.monotonic() < deadline:
            texts = [
                p["data"]["message"]["text"]
                for p in receiver.payloads()
                if p["type"] == "message.created" and p["data"]["message"]["author"] == "agent"
            ]
            if texts:
                break
            time.sleep(0.1)
        assert texts == ["It left the warehouse this morning."], receiver.payloads()
