from __future__ import annotations

from django.apps import AppConfig


class WebchatConfig(AppConfig):
    name = "webchat"
    verbose_name = "Web chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from handoffs import signals
        from routing import signals as routing_signals
        from webchat import live, sessions
        from webhooks import worker

        # What a bot would receive as webhooks goes to the visitor's socket instead.
        signals.handoff_changed.connect(live.visitor_handoff_changed, dispatch_uid="webchat")
        signals.message_added.connect(live.visitor_message_added, dispatch_uid="webchat")
        # Once rated, the visitor's form gives way to thanks (in every tab).
        signals.handoff_rated.connect(live.visitor_handoff_changed, dispatch_uid="webchat")
        # The visitor sees "typing…" while their agent types.
        signals.agent_typing.connect(live.agent_typing, dispatch_uid="webchat")
        # Visitors waiting see their place in the queue move.
        routing_signals.queue_moved.connect(live.queue_moved, dispatch_uid="webchat")
        worker.register_hourly(sessions.clear_expired_sessions)
