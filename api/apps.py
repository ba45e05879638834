from __future__ import annotations

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "Bot API"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # typing_indicator: imported for its endpoint, POST /typing, kept apart from endpoints.py.
        from api import idempotency, typing_indicator  # noqa: F401
        from webhooks import worker

        worker.register_hourly(idempotency.prune_idempotency_records)
