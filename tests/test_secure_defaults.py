"""Secure by default: production settings (DEBUG off, SECRET_KEY and ALLOWED_HOSTS set, nothing
else) pass `check --deploy`, answer with HSTS, secure cookies and a strict CSP, redirect
HTTP to HTTPS but keep /healthz reachable; and no credential ever reaches the logs."""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings

from tests.api_support import BotApi, handoff_body, message_body
from tests.webhooks import Reply, WebhookReceiver
from tests.workers import BASE_DIR
from webhooks.delivery import deliver_due

HOST = "inbox.example.com"


def production_env(tmp_path, **extra: str) -> dict[str, str]:
    """DEBUG off, SECRET_KEY and ALLOWED_HOSTS: the README promises that is enough."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "HITLNEXT_VAR_DIR": str(tmp_path),  # test isolation only: where SQLite lives
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(60),
        "ALLOWED_HOSTS": HOST,
    } | extra


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )


def test_production_settings_pass_the_deploy_check_without_a_warning(tmp_path):
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env(tmp_path)
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNING" not in result.stderr and "?:" not in result.stderr


def test_without_a_secret_key_production_settings_refuse_to_load(tmp_path):
    env = production_env(tmp_path)
    del env["SECRET_KEY"]

    result = run(["manage.py", "check"], env)

    assert result.returncode != 0
    assert "SECRET_KEY is required when DEBUG is off" in result.stderr


# Runs inside a production-settings process: a few requests through Django's test client,
# reported back as JSON (on a fresh SQLite database of its own).
PROBE = """
import json, django
django.setup()
from django.test import Client

host = {host!r}
client = Client(HTTP_HOST=host)
out = {{}}

page = client.get("/login/", secure=True)
out["page"] = {{
    "status": page.status_code,
    "hsts": page.get("Strict-Transport-Security"),
    "csp": page.get("Content-Security-Policy"),
    "cookies": {{name: dict(morsel) for name, morsel in page.cookies.items()}},
    "nosniff": page.get("X-Content-Type-Options"),
    "frame": page.get("X-Frame-Options"),
}}
proxied = client.get("/login/", headers={{"X-Forwarded-Proto": "https"}})
out["proxied"] = {{"status": proxied.status_code, "hsts": proxied.get("Strict-Transport-Security")}}
plain = client.get("/login/?next=/")
out["plain"] = {{"status": plain.status_code, "location": plain.get("Location")}}
health = client.get("/healthz")
out["healthz"] = {{"status": health.status_code, "body": health.content.decode()}}

from django.contrib.auth import get_user_model
from django.core.management import call_command
call_command("migrate", verbosity=0)
get_user_model().objects.create_user("probe", password="correct-horse-battery")
login = client.post(
    "/login/", {{"username": "probe", "password": "correct-horse-battery"}}, secure=True
)
out["login"] = {{
    "status": login.status_code,
    "cookies": {{name: dict(morsel) for name, morsel in login.cookies.items()}},
}}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def production_answers(tmp_path_factory) -> dict:
    tmp_path = tmp_path_factory.mktemp("production")
    # The test client's requests come from 127.0.0.1: the proxy in front of the server.
    env = production_env(
        tmp_path,
        DJANGO_SETTINGS_MODULE="hitlnext_project.settings",
        HITLNEXT_TRUSTED_PROXIES="127.0.0.1",
    )
    result = run(["-c", PROBE.format(host=HOST)], env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def test_https_pages_carry_hsts(production_answers):
    page = production_answers["page"]

    assert page["status"] == 200
    assert page["hsts"].startswith("max-age=31536000")
    assert "includeSubDomains" in page["hsts"]
    assert page["nosniff"] == "nosniff" and page["frame"] == "DENY"


def test_session_and_csrf_cookies_are_secure_and_same_site(production_answers):
    csrf = production_answers["page"]["cookies"]["csrftoken"]
    login = production_answers["login"]
    session = login["cookies"]["sessionid"]

    assert csrf["secure"] is True and csrf["samesite"] == "Lax"
    assert login["status"] == 302
    assert session["secure"] is True and session["httponly"] is True
    assert session["samesite"] == "Lax"


def test_the_csp_allows_no_inline_or_evaluated_script(production_answers):
    directives = csp_directives(production_answers["page"]["csp"])

    script = directives["script-src"]
    assert "'unsafe-inline'" not in script and "'unsafe-eval'" not in script
    assert any(source.startswith("'nonce-") for source in script)
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in directives.get("style-src", [])


def test_plain_http_is_redirected_to_https_except_the_health_check(production_answers):
    assert production_answers["plain"] == {
        "status": 301,
        "location": f"https://{HOST}/login/?next=/",
    }
    # Behind a trusted TLS-terminating proxy, its X-Forwarded-Proto counts as HTTPS.
    assert production_answers["proxied"]["status"] == 200
    assert production_answers["proxied"]["hsts"]
    # Balancers probe over plain HTTP.
    assert production_answers["healthz"] == {"status": 200, "body": '{"status": "ok"}'}


# --- Credentials never logged ---------------------------------------------------------------


@pytest.mark.django_db
@override_settings(DEBUG=True)  # with DEBUG on, Django logs each SQL statement and its values
def test_no_api_key_or_webhook_secret_reaches_the_logs_in_a_full_flow(client, caplog):
    with (
        WebhookReceiver() as receiver,
        caplog.at_level(logging.DEBUG),
        # The strictest setting an operator could choose: every statement with its values.
        caplog.at_level(logging.DEBUG, logger="django.db.backends"),
    ):
        port = receiver.server.server_address[1]
        url = f"http://hook-user:hunter2-pass@127.0.0.1:{port}/hooks?token=s3cr3t-token"
        out = StringIO()
        call_command("create_bot", "Logged bot", "--webhook-url", url, stdout=out)
        created = json.loads(out.getvalue())
        api = BotApi(client, created["api_key"])

        assert api.post("/handoffs", handoff_body()).status_code == 201
        assert api.post("/messages", message_body()).status_code == 201
        assert api.get("/events").status_code == 200
        # A typo'd key and a malformed header: refused, and not echoed either.
        assert BotApi(client, created["api_key"] + "x").get("/agents").status_code == 401
        client.get("/api/v1/agents", headers={"Authorization": created["api_key"]})

        receiver.replies.append(Reply(500))  # one failed attempt: the error path logs too
        deliver_due()
        assert receiver.received, "no webhook was delivered"

    def text(records) -> str:
        return "\n".join(f"{record.getMessage()} {record.args}" for record in records)

    everything = text(caplog.records)
    assert "INSERT" in everything  # SQL really was logged, values included
    secret = created["webhook_secret"]
    # Keys are stored hashed and secrets encrypted: not even the SQL log shows them.
    for credential in (created["api_key"], secret, secret.removeprefix("whsec_")):
        assert credential not in everything
    # The URL's own credentials are stored as given (the worker needs them), so only
    # Django's SQL log, which exists with DEBUG on alone, may show them; no other log does.
    ours = text(r for r in caplog.records if not r.name.startswith("django.db"))
    for credential in ("hunter2-pass", "s3cr3t-token"):
        assert credential not in ours
