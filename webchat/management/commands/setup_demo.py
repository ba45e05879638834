from __future__ import annotations

import json
import secrets
from typing import TypedDict

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from agents.services import profile_for
from webchat.services import get_webchat_bot


class DemoUser(TypedDict):
    username: str
    first_name: str
    last_name: str
    admin: bool


DEMO_USERS: list[DemoUser] = [
    {"username": "admin", "first_name": "Ada", "last_name": "Admin", "admin": True},
    {"username": "agent", "first_name": "Sam", "last_name": "Agent", "admin": False},
]


class Command(BaseCommand):
    help = "Create the demo admin and agent once, and print their credentials."

    def handle(self, *args, **options):
        path = settings.VAR_DIR / "demo-credentials.json"
        stored = json.loads(path.read_text()) if path.exists() else {}
        User = get_user_model()
        for spec in DEMO_USERS:
            username = spec["username"]
            if User.objects.filter(username=username).exists():
                continue
            # A random password per install: a demo must not ship a known login.
            password = secrets.token_urlsafe(9)
            user = User(
                username=username,
                first_name=spec["first_name"],
                last_name=spec["last_name"],
                is_staff=spec["admin"],
                is_superuser=spec["admin"],
            )
            user.set_password(password)
            user.save()
            profile_for(user)
            stored[username] = password
        get_webchat_bot()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(stored))
        path.chmod(0o600)
        port = settings.HITLNEXT_DEMO_PORT
        self.stdout.write("")
        self.stdout.write("=" * 64)
        self.stdout.write(f"  Agent inbox:  http://127.0.0.1:{port}/")
        for spec in DEMO_USERS:
            password = stored.get(spec["username"], "(changed since; not stored)")
            role = "admin (also /admin/)" if spec["admin"] else "agent"
            self.stdout.write(f"    {role:22} {spec['username']} / {password}")
        self.stdout.write(f"  (kept in {path})")
        self.stdout.write(f"  Web chat (as a visitor): http://127.0.0.1:{port}/chat/")
        self.stdout.write(
            "    (in a private window or another browser, apart from the agent login)"
        )
        self.stdout.write(
            f"    the embeddable widget on a demo page: http://127.0.0.1:{port}/chat/demo/"
        )
        self.stdout.write("=" * 64)
        self.stdout.write("")
