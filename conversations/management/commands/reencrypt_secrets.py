from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from conversations.crypto import UnreadableSecret
from conversations.models import Bot


class Command(BaseCommand):
    help = (
        "Rewrite every bot's webhook secret under the current encryption key "
        "(HITLNEXT_ENCRYPTION_KEY, else SECRET_KEY), after a key rotation. Then the old keys "
        "can be removed from the fallbacks."
    )

    def handle(self, *args, **options):
        rewritten, unreadable = 0, []
        with transaction.atomic():
            for bot in Bot.objects.select_for_update().order_by("pk"):
                if isinstance(bot.webhook_secret, UnreadableSecret):
                    unreadable.append(bot.name)
                    continue
                bot.save(update_fields=["webhook_secret"])  # encrypts with the first key
                rewritten += 1
        self.stdout.write(f"{rewritten} webhook secrets re-encrypted with the current key.")
        if unreadable:
            self.stderr.write(
                "No configured key opens the webhook secret of: "
                + ", ".join(unreadable)
                + ". Add the old key to HITLNEXT_ENCRYPTION_KEY_FALLBACKS (or "
                "SECRET_KEY_FALLBACKS), or rotate these secrets in the admin."
            )
