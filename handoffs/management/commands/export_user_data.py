from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from conversations.models import EndUser
from handoffs.retention import export_user_data


class Command(BaseCommand):
    help = "Print, as JSON, everything stored about one end user (a data-access request)."

    def add_arguments(self, parser):
        parser.add_argument("--bot", required=True, help="The bot's name")
        parser.add_argument("--user", required=True, help="The bot's user id")

    def handle(self, *args, bot, user, **options):
        try:
            end_user = EndUser.objects.select_related("bot").get(bot__name=bot, external_id=user)
        except EndUser.DoesNotExist:
            raise CommandError(f"No user {user!r} for bot {bot!r}.") from None
        self.stdout.write(json.dumps(export_user_data(end_user=end_user), indent=2))
