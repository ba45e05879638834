"""Routing: who should take which handoff: the queue, capacity, auto-assignment and each
agent's load."""

from __future__ import annotations

from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "routing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here, once the app registry is ready (they use models).
        from agents import signals as agent_signals
        from handoffs import signals as handoff_signals
        from routing import services
        from webhooks import worker

        # A handoff created, requeued or freed (resolved, rejected, expired); an agent online
        # or given more room: a queued handoff may fit someone now.
        handoff_signals.handoff_changed.connect(services.route_queue, dispatch_uid="routing")
        agent_signals.availability_changed.connect(services.route_queue, dispatch_uid="routing")
        # The sweep, every pass: whatever no announcement covers (a process that died between
        # its commit and its hooks, a capacity setting changed by a restart).
        worker.register_timer(services.assign_next)
