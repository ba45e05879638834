from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from conversations.models import Bot


class Command(BaseCommand):
    help = "Create a bot and print its credentials once, as one JSON line."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--webhook-url", default="")
        parser.add_argument("--language", default="en")

    def handle(self, *args, name, webhook_url, language, **options):
        if Bot.objects.filter(name=name).exists():
            raise CommandError(f"A bot named {name!r} already exists.")
        bot = Bot(name=name, webhook_url=webhook_url, default_language=language)
        api_key = bot.set_new_api_key()
        secret = bot.set_new_webhook_secret()
        try:
            bot.full_clean()
        except ValidationError as error:
            raise CommandError(
                "; ".join(f"{k}: {' '.join(v)}" for k, v in error.message_dict.items())
            ) from None
        bot.save()
        line = {"id": bot.pk, "name": bot.name, "api_key": api_key, "webhook_secret": secret}
        self.stdout.write(json.dumps(line))
