"""`manage.py compilemessages` without GNU gettext: overrides Django's command of the same name.

Compiles every `.po` under LOCALE_PATHS (the project's `locale/`) to the `.mo` beside it with
hitlnext_project/shared/catalogs.py, so `dev.py run`, `dev.py test`, CI and a deployment
compile the catalogs with nothing but Python. The `.mo` files are build output, not committed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from hitlnext_project.shared.catalogs import CatalogError, compile_po


class Command(BaseCommand):
    help = "Compile the .po translation catalogs in LOCALE_PATHS to .mo files (no gettext needed)."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--locale", "-l", action="append", default=[], help="Only these locales (repeatable)."
        )
        parser.add_argument(
            "--use-fuzzy", "-f", action="store_true", help="Also compile entries marked fuzzy."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        wanted = set(options["locale"])
        compiled = 0
        for base in map(Path, settings.LOCALE_PATHS):
            for po in sorted(base.glob("*/LC_MESSAGES/*.po")):
                locale = po.parent.parent.name
                if wanted and locale not in wanted:
                    continue
                try:
                    compile_po(po, use_fuzzy=options["use_fuzzy"])
                except (CatalogError, OSError) as error:
                    raise CommandError(str(error)) from None
                compiled += 1
                if options["verbosity"] > 1:
                    self.stdout.write(f"compiled {po}")
        if options["verbosity"] > 0:
            self.stdout.write(f"{compiled} catalog(s) compiled")
