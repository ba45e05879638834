from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from agents.services import profile_for


class Command(BaseCommand):
    help = "Create an agent (a user who works the inbox); --admin also opens the admin."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--password", required=True)
        parser.add_argument("--first-name", default="")
        parser.add_argument("--last-name", default="")
        parser.add_argument("--admin", action="store_true")

    def handle(self, *args, username, password, first_name, last_name, admin, **options):
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
        user.set_password(password)
        user.save()
        profile_for(user)
        self.stdout.write(f"Created {'admin' if admin else 'agent'} {username}")
