from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS

from conversations.backup import BackupError, restore_backup


class Command(BaseCommand):
    help = (
        "Replace the database and the uploaded files with a backup made by `manage.py backup`, "
        "then migrate it if an older version made it. Stop the server and workers first."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="the backup: its tar file, or the directory unpacked")
        parser.add_argument(
            "--force",
            action="store_true",
            help="replace a database that already holds users, bots or media files",
        )
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args, path: str, force: bool, database: str, **options):
        try:
            report = restore_backup(path=Path(path), using=database, force=force)
        except BackupError as error:
            raise CommandError(str(error)) from None
        manifest, files = report.manifest, report.manifest.media_files
        self.stdout.write(
            f"Restored the backup of {manifest.created_at} ({manifest.vendor} database, "
            f"{files} media file{'s' if files != 1 else ''})."
        )
        if report.migrated:
            self.stdout.write(
                f"It came from an older version: {len(report.migrated)} migrations applied "
                f"({', '.join(report.migrated)})."
            )
        if report.unreadable_secrets:
            self.stderr.write(
                "Warning: the configured keys cannot decrypt the webhook secret of "
                + ", ".join(report.unreadable_secrets)
                + ": the backup was made under another HITLNEXT_ENCRYPTION_KEY (or SECRET_KEY). "
                "Their webhooks fail until you add that key to HITLNEXT_ENCRYPTION_KEY_FALLBACKS "
                "(then run `manage.py reencrypt_secrets`) or rotate those secrets in the admin."
            )
