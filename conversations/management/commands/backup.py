from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS

from conversations.backup import BackupError, create_backup


class Command(BaseCommand):
    help = (
        "Back up the database (SQLite or PostgreSQL) and the uploaded files into one tar file "
        "(gzip when PATH ends in .gz or .tgz). Safe while the server and workers run. The "
        "encryption key is not in it: keep SECRET_KEY / HITLNEXT_ENCRYPTION_KEY separately."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="the backup file to write (must not exist)")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args, path: str, database: str, **options):
        target = Path(path)
        try:
            manifest = create_backup(path=target, using=database)
        except BackupError as error:
            raise CommandError(str(error)) from None
        size = target.stat().st_size
        files = manifest.media_files
        self.stdout.write(
            f"Backup written to {target} ({size / 1e6:.2f} MB): the {manifest.vendor} "
            f"database and {files} media file{'s' if files != 1 else ''}. The webhook "
            "secrets in it are encrypted: keep the key (HITLNEXT_ENCRYPTION_KEY, else "
            "SECRET_KEY) safe, apart from the backup."
        )
