"""The README's curl walk-through ("Plain HTTP"), run as written with bash against a live
server: the blocks marked `<!-- curl-recipe -->` in one shell, in order; then the block
marked `<!-- curl-recipe-webhook -->` on a webhook the worker really delivered."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conversations.models import Bot, Message
from handoffs.models import Handoff
from tests.recipes import ROOT, FakeEndpoint, deliver_everything
from tests.workers import current_database_url
from webhooks.signing import signature

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

README = (ROOT / "README.md").read_text()
BLOCK = r"<!-- {marker} -->\n```bash\n(.*?)```"


def blocks(marker: str) -> list[str]:
    return re.findall(BLOCK.format(marker=marker), README, flags=re.DOTALL)


def bash(script: str, *, cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, f"{script}\n--- out:\n{result.stdout}\n--- err:\n{result.stderr}"
    return result.stdout


def json_values(text: str) -> list:
    """The JSON documents curl printed one after the other (with no newline between)."""
    decoder, values, at = json.JSONDecoder(), [], 0
    while at < len(text):
        if text[at].isspace():
            at += 1
            continue
        value, at = decoder.raw_decode(text, at)
        values.append(value)
    return values


def test_the_readme_has_the_walk_through_in_marked_blocks():
    assert len(blocks("curl-recipe")) == 4
    assert len(blocks("curl-recipe-webhook")) == 1
    for tool in ("bash", "curl", "openssl", "base64", "od"):
        assert shutil.which(tool), tool


def test_the_curl_walk_through_runs_as_written(live_server, tmp_path):
    receiver = FakeEndpoint()
    env = {
        "HITLNEXT": live_server.url,
        "WEBHOOK_URL": f"{receiver.url}/hooks",
        # manage.py create_bot writes to the database the live server reads (the test's).
        "DATABASE_URL": current_database_url(),
    }
    try:
        # The state the reader's shell keeps between the steps, for the webhook step below.
        keep = '\nprintf \'%s\' "$SECRET" > "$STATE"\n'
        out = bash(
            "\n".join(blocks("curl-recipe")) + keep,
            cwd=ROOT,
            env=env | {"STATE": str(tmp_path / "secret")},
        )

        # What each step answered, as the README says.
        handoff_json, relayed_json, events_json = json_values(out)
        bot = Bot.objects.get(name="Curl bot")
        handoff = Handoff.objects.get(bot=bot)
        assert handoff_json["id"] == handoff.pk and handoff_json["status"] == "pending"
        assert handoff.conversation.end_user.variables == {"fullName": "Ada Lovelace"}
        assert relayed_json["paused"] is True
        assert relayed_json["handoff"] == {"id": handoff.pk, "status": "pending"}
        assert [e["type"] for e in events_json["events"]] == ["handoff.created", "message.created"]
        texts = set(Message.objects.filter(conversation__bot=bot).values_list("text", flat=True))
        assert {"Where is my parcel?", "Is anyone there?"} <= texts

        # A webhook the worker delivered, verified by the README's openssl step.
        deliver_everything()
        webhook = receiver.requests[0]
        assert webhook.path == "/hooks"
        (tmp_path / "body.json").write_bytes(webhook.raw)
        verify = blocks("curl-recipe-webhook")[0]
        signed = {
            "SECRET": (tmp_path / "secret").read_text(),
            "WEBHOOK_ID": webhook.headers["webhook-id"],
            "WEBHOOK_TIMESTAMP": webhook.headers["webhook-timestamp"],
            "WEBHOOK_SIGNATURE": webhook.headers["webhook-signature"],
        }
        assert bash(verify, cwd=tmp_path, env=signed) == "valid\n"

        (tmp_path / "body.json").write_bytes(webhook.raw.replace(b"pending", b"resolved"))
        assert bash(verify, cwd=tmp_path, env=signed) == "INVALID: bad signature\n"
        (tmp_path / "body.json").write_bytes(webhook.raw)
        then = int(signed["WEBHOOK_TIMESTAMP"]) - 600
        replayed = signed | {
            "WEBHOOK_TIMESTAMP": str(then),
            "WEBHOOK_SIGNATURE": signature(
                secret=signed["SECRET"],
                msg_id=signed["WEBHOOK_ID"],
                timestamp=then,
                body=webhook.raw,
            ),
        }
        assert bash(verify, cwd=tmp_path, env=replayed) == "INVALID: too old\n"
    finally:
        receiver.close()
