from __future__ import annotations

from django.apps import AppConfig


class HandoffsConfig(AppConfig):
    name = "handoffs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here, once the app registry is ready (they use models).
        from conversations import signals as conversation_signals
        from handoffs import live, retention, services, signals
        from webhooks import worker

        # The agents' pages listen to what this app and conversations announce.
        signals.handoff_changed.connect(live.handoff_changed, dispatch_uid="handoffs.live")
        signals.message_added.connect(live.message_added, dispatch_uid="handoffs.live")
        signals.handoff_rated.connect(live.handoff_rated, dispatch_uid="handoffs.live")
        conversation_signals.contact_changed.connect(
            live.contact_changed, dispatch_uid="handoffs.live"
        )
        worker.register_timer(services.expire_due_handoffs)
        worker.register_timer(services.requeue_unanswered_handoffs)
        worker.register_hourly(retention.apply_retention_setting)
