"""The WSGI variant of the scale-out deployment, as shipped in deploy/: nginx routes /ws/ to
Daphne and everything else to gunicorn, on PostgreSQL + Redis (tests/deploy_wsgi.py starts it).

Through nginx only: the bot API answers from gunicorn, its pushes cross Redis to an agent's
socket on Daphne, the worker delivers the webhooks, an agent's page actions (gunicorn) reach
the bot, and the web chat's socket is routed to Daphne too. The browser's side of the same
deployment is e2e/test_deploy_wsgi.py.
"""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from websockets.sync.client import connect

from handoffs.models import Handoff
from tests.deploy_wsgi import BASE_DIR, BIN, DEPLOY, NGINX, nginx_conf, wsgi_deployment
from tests.factories import BotFactory, UserFactory
from tests.test_scaleout import receive_until
from tests.webhooks import WebhookReceiver
from tests.workers import current_database_url

needs_scale_out = pytest.mark.skipif(
    connection.vendor != "postgresql" or not settings.REDIS_URL,
    reason="the WSGI deployment test needs DATABASE_URL=postgres://... and "
    "REDIS_URL=redis://... (gunicorn, Daphne and the worker share one database and one "
    "Redis channel layer)",
)
needs_nginx = pytest.mark.skipif(
    not Path(NGINX).exists(),
    reason="nginx is not installed (dev.py test installs Debian's nginx when it can)",
)


# --- The shipped files themselves ---------------------------------------------------------------


@needs_nginx
def test_the_shipped_nginx_conf_made_local_is_valid_nginx(tmp_path):
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        nginx_conf(
            port=8080,
            ws_sockets=[tmp_path / "daphne-1.sock"],
            http_sockets=[tmp_path / "http-1.sock"],
            prefix=tmp_path,
        )
    )
    result = subprocess.run(
        [NGINX, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "e.log"), "-c", str(conf)]
        + ["-g", f"pid {tmp_path / 'pid'};"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    # Websockets (both: the agents' and the web chat's) go to Daphne, the rest to gunicorn.
    text = " ".join(conf.read_text().split())
    assert "location /ws/ { proxy_pass http://hitlnext_ws;" in text
    assert "location / { proxy_pass http://hitlnext_http;" in text


def test_every_websocket_route_is_under_the_path_nginx_sends_to_daphne():
    from hitlnext_project.routing import websocket_urlpatterns

    routes = [str(pattern.pattern) for pattern in websocket_urlpatterns]
    assert routes and all(route.startswith("ws/") for route in routes), routes


def gunicorn_settings(monkeypatch, **env: str) -> dict:
    for name in ("HITLNEXT_DB_POOL_SIZE", "HITLNEXT_HTTP_THREADS", "HITLNEXT_TRUSTED_PROXIES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    loaded = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    loaded["pool_size"] = os.environ["HITLNEXT_DB_POOL_SIZE"]
    return loaded


def test_the_gunicorn_config_sizes_the_database_pool_to_its_threads(monkeypatch):
    assert gunicorn_settings(monkeypatch)["pool_size"] == "9"  # 8 threads + 1
    assert gunicorn_settings(monkeypatch, HITLNEXT_HTTP_THREADS="16")["pool_size"] == "17"
    chosen = gunicorn_settings(monkeypatch, HITLNEXT_DB_POOL_SIZE="30")
    assert chosen["pool_size"] == "30"


def test_the_gunicorn_config_trusts_the_proxies_hitlnext_trusts_and_reads_no_scheme(monkeypatch):
    loaded = gunicorn_settings(monkeypatch, HITLNEXT_TRUSTED_PROXIES="unix, 10.0.0.0/8,127.0.0.1")
    assert loaded["forwarded_allow_ips"] == "10.0.0.0/8,127.0.0.1"
    assert loaded["secure_scheme_headers"] == {}  # Django decides, after TrustedProxyMiddleware
    assert gunicorn_settings(monkeypatch)["forwarded_allow_ips"] == ""
    assert loaded["worker_class"] == "gthread"
    assert loaded["accesslog"] is None


def check_gunicorn_config(tmp_path, **env: str) -> subprocess.CompletedProcess:
    """`gunicorn --check-config` loads the application and exits."""
    base = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    return subprocess.run(
        [str(BIN / "gunicorn"), "-c", str(DEPLOY / "gunicorn.conf.py"), "--check-config"]
        + ["hitlnext_project.wsgi:application"],
        cwd=BASE_DIR,
        env=base | {"HITLNEXT_VAR_DIR": str(tmp_path), "LOG_LEVEL": "WARNING"} | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_gunicorn_refuses_to_serve_with_the_in_memory_channel_layer(tmp_path):
    # Its pushes would never reach a page: the sockets are in Daphne processes.
    result = check_gunicorn_config(tmp_path)
    assert result.returncode != 0
    assert "Serving HTTP with gunicorn needs REDIS_URL" in result.stdout + result.stderr


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL")
def test_gunicorn_serves_with_the_redis_channel_layer(tmp_path):
    result = check_gunicorn_config(tmp_path, REDIS_URL=settings.REDIS_URL)
    assert result.returncode == 0, result.stdout + result.stderr


# --- The deployment, running ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def deployment(django_db_setup) -> Iterator:
    with wsgi_deployment(
        database_url=current_database_url(),
        redis_url=settings.REDIS_URL,
        secret_key=settings.SECRET_KEY,
    ) as deployment:
        yield deployment


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


def wait_for_payload(receiver: WebhookReceiver, predicate: Callable[[dict], bool], what: str):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for payload in receiver.payloads():
            if predicate(payload):
                return payload
        time.sleep(0.05)
    raise AssertionError(f"the bot never received {what}: {receiver.payloads()}")


@needs_scale_out
@needs_nginx
@pytest.mark.django_db(transaction=True)
def test_through_nginx_the_bot_api_on_gunicorn_pushes_live_to_an_agent_socket_on_daphne(
    deployment, receiver
):
    bot = BotFactory(webhook_url=receiver.url)
    agent = UserFactory(online=True)
    session = Client()
    session.force_login(agent)  # a real session row, read by gunicorn and Daphne alike
    cookie = session.cookies["sessionid"].value
    ws_url = deployment.url.replace("http://", "ws://")
    with (
        connect(
            f"{ws_url}/ws/agent/",
            origin=deployment.url,
            additional_headers={"Cookie": f"sessionid={cookie}"},
            open_timeout=30,
        ) as ws,
        httpx.Client(
            base_url=f"{deployment.url}/api/v1",
            headers={"Authorization": f"Bearer {bot.api_key}"},
            timeout=30,
        ) as api,
    ):
        ws.send(json.dumps({"action": "hello"}))
        name = f"Ada {uuid.uuid4().hex[:8]}"
        created = api.post(
            "/handoffs",
            json={
                "conversation_id": "th-1",
                "user_id": "u-1",
                "channel": "web",
                "user": {"fullName": name},
            },
        )
        assert created.status_code == 201, created.text
        handoff_id = created.json()["id"]
        # The inbox item, pushed from gunicorn's thread through Redis to Daphne's socket.
        receive_until(ws, lambda f: name in f, what="the new handoff's inbox item")

        ws.send(json.dumps({"action": "hello", "handoff": handoff_id}))
        receive_until(ws, lambda f: f'id="handoff-{handoff_id}-head"' in f, what="the head")
        token = f"relayed-{uuid.uuid4().hex}"
        relayed = api.post(
            "/messages",
            json={
                "conversation_id": "th-1",
                "user_id": "u-1",
                "channel": "web",
                "id": "m-1",
                "direction": "incoming",
                "text": token,
            },
        )
        assert relayed.status_code == 201, relayed.text
        assert relayed.json()["paused"] is True
        conversation_id = Handoff.objects.get(pk=handoff_id).conversation_id
        receive_until(
            ws,
            lambda f: token in f and f'id="conversation-{conversation_id}-messages"' in f,
            what="the relayed message",
        )
    wait_for_payload(receiver, lambda p: p["type"] == "handoff.created", "handoff.created")

    # The agent's page actions go to gunicorn as well: assign, then write to the user.
    with httpx.Client(base_url=deployment.url, cookies={"sessionid": cookie}, timeout=30) as pages:
        assert pages.get("/").status_code == 200
        csrf = {"X-CSRFToken": pages.cookies["csrftoken"], "HX-Request": "true"}
        assigned = pages.post(f"/handoffs/{handoff_id}/assign/", headers=csrf)
        assert assigned.status_code == 200, assigned.text
        answer = f"answer-{uuid.uuid4().hex}"
        sent = pages.post(f"/handoffs/{handoff_id}/send/", data={"text": answer}, headers=csrf)
        assert sent.status_code == 200, sent.text
    wait_for_payload(
        receiver,
        lambda p: p["type"] == "message.created" and p["data"]["message"]["text"] == answer,
        "the agent's message.created",
    )
    assert Handoff.objects.get(pk=handoff_id).status == Handoff.Status.ASSIGNED


@needs_scale_out
@needs_nginx
@pytest.mark.django_db(transaction=True)
def test_through_nginx_static_files_admin_and_the_web_chat_socket_are_served(deployment):
    with httpx.Client(base_url=deployment.url, timeout=30) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/admin/login/").status_code == 200
        page = client.get("/chat/")
        assert page.status_code == 200, page.text
        scripts = [part.split('"')[0] for part in page.text.split('src="')[1:]]
        assert scripts, "the chat page loads no script"
        for src in scripts:
            assert client.get(src).status_code == 200, src
        visitor = dict(client.cookies)
    ws_url = deployment.url.replace("http://", "ws://")
    cookie = "; ".join(f"{k}={v}" for k, v in visitor.items())
    with connect(
        f"{ws_url}/ws/chat/",
        origin=deployment.url,
        additional_headers={"Cookie": cookie},
        open_timeout=30,
    ) as ws:
        ws.recv(timeout=30)  # the catch-up: accepted, by Daphne


@needs_scale_out
@needs_nginx
@pytest.mark.django_db(transaction=True)
def test_behind_nginx_hitlnext_sees_the_clients_address_not_the_proxys(deployment):
    # nginx appends the peer it saw (127.0.0.1) to what the client claims; hitlnext trusts
    # nginx on the unix socket and so takes nginx's entry, never the client's forgery.
    with httpx.Client(base_url=deployment.url, timeout=30) as client:
        response = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.7"})
    # /metrics answers loopback clients only: 127.0.0.1 as nginx reported it, not 203.0.113.7.
    assert response.status_code == 200, response.text
