from __future__ import annotations

import getpass
import sys
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.services import profile_for


class Command(BaseCommand):
    help = (
        "Create an agent (a user who works the inbox); --admin also opens the admin. The "
        "password is asked for (or read from standard input) unless --password gives it; "
        "Django's password validators apply either way."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        # On the command line a password lands in the shell history and the process list:
        # kept for scripts that already pass it, but a prompt or stdin is better.
        parser.add_argument("--password")
        parser.add_argument("--first-name", default="")
        parser.add_argument("--last-name", default="")
        parser.add_argument("--admin", action="store_true")

    def handle(
        self,
        *args: Any,
        username: str,
        password: str | None,
        first_name: str,
        last_name: str,
        admin: bool,
        **options: Any,
    ) -> None:
        User = get_user_model()
        if User.objects.filter(username=username).exists():
            raise CommandError(f"An agent named {username!r} already exists.")
        user = User(
            username=username,
            first_name=first_name,
            last_name=last_name,
            is_staff=admin,
            is_superuser=admin,
        )
        if password is None:
            password = self._read_password()
        try:
            validate_password(password, user)
        except ValidationError as error:
            raise CommandError("Password refused: " + " ".join(error.messages)) from None
        user.set_password(password)
        user.save()
        profile_for(user)
        self.stdout.write(f"Created {'admin' if admin else 'agent'} {username}")

    def _read_password(self) -> str:
        if not sys.stdin.isatty():
            return sys.stdin.readline().rstrip("\r\n")
        first = getpass.getpass("Password: ")
        if getpass.getpass("Password (again): ") != first:
            raise CommandError("The two passwords differ.")
        return first
