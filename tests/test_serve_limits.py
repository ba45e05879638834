"""`manage.py serve` bounds websocket messages in Daphne itself, not only in the consumers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# In a child process: importing daphne.server installs Twisted's reactor, which the test
# process must not get.
PROBE = """
import json, os, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hitlnext_project.settings")
django.setup()
import daphne.server
seen = {}
class FakeServer:
    def __init__(self, **kwargs):
        seen.update({k: v for k, v in kwargs.items() if k.startswith("websocket")})
    def run(self):
        pass
daphne.server.Server = FakeServer
from django.core.management import call_command
call_command("serve", "--no-worker", "--port", "0")
print(json.dumps(seen))
"""


def test_serve_caps_websocket_messages_and_frames_at_64_kib(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0, done.stderr
    limits = json.loads(done.stdout.strip().splitlines()[-1])
    assert limits["websocket_max_message_size"] == 64 * 1024
    assert limits["websocket_max_frame_size"] == 64 * 1024
    assert limits["websocket_timeout"] == -1
