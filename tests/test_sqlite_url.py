"""SQLite named by DATABASE_URL gets the settings the default SQLite file has (WAL, IMMEDIATE
transactions, a busy timeout), so the server and a separate `run_worker` share one file
without answering 503 "database is locked" to ordinary traffic."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import httpx

from tests.workers import BASE_DIR, free_port, manage, start_command, stop, wait_for


def sqlite_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    return env | {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'shared.sqlite3'}",
        "HITLNEXT_VAR_DIR": str(tmp_path),
        "HITLNEXT_API_RATE_LIMIT": "0",
        "LOG_LEVEL": "WARNING",
    }


def test_a_sqlite_database_url_gets_wal_immediate_transactions_and_a_busy_timeout(tmp_path):
    code = (
        "import django; django.setup(); from django.db import connection; "
        "c = connection.cursor(); c.execute('PRAGMA journal_mode'); "
        "import json; print(json.dumps([c.fetchone()[0], connection.settings_dict['OPTIONS']]))"
    )
    env = sqlite_env(tmp_path) | {"DJANGO_SETTINGS_MODULE": "hitlnext_project.settings"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True
    )

    assert out.returncode == 0, out.stderr
    journal_mode, options = json.loads(out.stdout)
    assert journal_mode == "wal"
    assert options["transaction_mode"] == "IMMEDIATE"
    assert options["timeout"] >= 5


def test_server_and_a_separate_worker_on_one_sqlite_file_answer_concurrent_traffic(tmp_path):
    env = sqlite_env(tmp_path)
    manage(env, "migrate", "--no-input", "-v", "0")
    key = json.loads(manage(env, "create_bot", "Load bot"))["api_key"]
    port = free_port()
    server = start_command(env, "serve", "--no-worker", "--port", str(port))
    # The worker writes too: it sequences every new event and expires the 1-second handoffs.
    worker = start_command(env, "run_worker", "--interval", "0.01")
    base = f"http://127.0.0.1:{port}/api/v1"
    headers = {"Authorization": f"Bearer {key}"}
    statuses: list[tuple[str, int]] = []

    def up() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    def sender(n: int) -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            for i in range(12):
                body = {
                    "conversation_id": f"th-{n}-{i}",
                    "user_id": f"u-{n}",
                    "channel": "web",
                    "timeout_seconds": 1,
                }
                created = client.post("/handoffs", json=body)
                statuses.append(("create", created.status_code))
                if created.status_code == 201 and i % 2:
                    rejected = client.post(f"/handoffs/{created.json()['id']}/reject")
                    statuses.append(("reject", rejected.status_code))
                statuses.append(("events", client.get("/events").status_code))

    try:
        wait_for(up, what="the server to answer")
        threads = [threading.Thread(target=sender, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        assert worker.poll() is None, "the worker died"
    finally:
        stop(server)
        _, _, worker_log = stop(worker)

    failures = [(what, code) for what, code in statuses if code not in (200, 201, 409)]
    assert len(statuses) >= 4 * 12 * 2
    assert failures == []
    assert "database is locked" not in worker_log
