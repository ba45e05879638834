from __future__ import annotations

import shlex
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from conversations.models import Bot
from handoffs.botpress_config import ConfigError, apply_plan, load_plan


class Command(BaseCommand):
    help = (
        "Import a Botpress v12 HITL-next config (hitlnext.json): tags become labels, "
        "autoComplete shortcuts become message templates, transferMessage/assignMessage "
        "become system messages per language ({{agentName}} kept). Settings hitlnext reads "
        "from the environment (agentSessionTimeout, messageCount, handoffAlert, "
        "defaultUsername, enableConversationDeletion, the autoComplete trigger) are printed "
        "as HITLNEXT_...=value lines to set. Safe to run again: rows that already match are "
        "left alone, nothing absent from the file is deleted. With --bot NAME, that bot's "
        "default language is set to the file's top-level defaultLanguage if it has one "
        "(Botpress keeps it in bot.config.json: add it to the file to use this); without "
        "it the bot is left as it is."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="the hitlnext.json file")
        parser.add_argument("--bot", metavar="NAME", help="a bot to set the default language of")
        parser.add_argument(
            "--dry-run", action="store_true", help="report what would change, write nothing"
        )

    def handle(self, *args, path: str, bot: str | None, dry_run: bool, **options):
        try:
            plan = load_plan(Path(path))
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error.strerror or error}") from None
        except ConfigError as error:
            raise CommandError(f"{path} is not a usable hitlnext config: {error}") from None
        bot_row = None
        if bot is not None:
            bot_row = Bot.objects.filter(name=bot).first()
            if bot_row is None:
                raise CommandError(f"No bot named {bot!r} (create it with create_bot first).")

        with transaction.atomic():
            counts = apply_plan(plan, bot=bot_row)
            if dry_run:
                # Same code path as a real run, so the counts are exactly what it would do.
                transaction.set_rollback(True)

        verb = "Would import" if dry_run else "Imported"
        self.stdout.write(f"{verb} from {path}:")
        self.stdout.write(f"  labels: {counts['labels']}")
        self.stdout.write(f"  message templates: {counts['templates']}")
        self.stdout.write(f"  system messages: {counts['system messages']}")
        if bot_row is not None:
            if counts["bot"].updated:
                change = f"default language set to {plan.default_language!r}"
            elif plan.default_language:
                change = f"default language already {plan.default_language!r}"
            else:
                change = "unchanged (the file has no defaultLanguage)"
            self.stdout.write(f"  bot {bot_row.name!r}: {change}")
        for note in plan.notes:
            self.stdout.write(f"Note: {note}")
        if plan.settings:
            self.stdout.write(
                "Set these in the environment (hitlnext reads them at start-up, not from "
                "the database):"
            )
            for name, value in plan.settings.items():
                self.stdout.write(f"{name}={shlex.quote(value)}")
        if dry_run:
            self.stdout.write("Dry run: nothing was written.")
