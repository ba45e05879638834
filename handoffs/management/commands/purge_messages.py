from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from handoffs.retention import plan_purge, purge_messages


class Command(BaseCommand):
    help = (
        "Delete the messages of conversations whose handoffs ended more than N days ago. "
        "Shows what it would delete unless --yes is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=settings.HITLNEXT_RETENTION_DAYS or None)
        parser.add_argument("--yes", action="store_true", help="Really delete")

    def handle(self, *args, days, yes, **options):
        if not days or days < 1:
            raise CommandError("Give --days N (>= 1) or set HITLNEXT_RETENTION_DAYS.")
        plan = plan_purge(days=days)
        self.stdout.write(
            f"{plan.message_count} messages in {len(plan.conversation_ids)} conversations "
            f"ended before {plan.cutoff:%Y-%m-%d %H:%M} UTC"
        )
        if not yes:
            self.stdout.write("Dry run: nothing deleted. Run again with --yes to delete.")
            return
        deleted = purge_messages(plan=plan)
        self.stdout.write(f"Deleted {deleted} messages.")
