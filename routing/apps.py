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
        from handoffs import consumers, queue_place
        from handoffs import signals as handoff_signals
        from routing import live, position, queue_live, services
        from webhooks import worker

        # A handoff created, requeued or freed (resolved, rejected, expired); an agent online
        # or given more room: a queued handoff may fit someone now.
        handoff_signals.handoff_changed.connect(services.route_queue, dispatch_uid="routing")
        agent_signals.availability_changed.connect(services.route_queue, dispatch_uid="routing")
        # The agent's load in their header: a handoff assigned, resolved or requeued; a
        # capacity changed.
        handoff_signals.handoff_changed.connect(live.handoff_changed, dispatch_uid="routing.live")
        agent_signals.availability_changed.connect(
            live.availability_changed, dispatch_uid="routing.live"
        )
        # ... and as it is now, whenever an agent page's socket (re)connects.
        consumers.register_header_part(live.render_load_of)
        # The sweep, every pass: whatever no announcement covers (a process that died between
        # its commit and its hooks, a capacity setting changed by a restart).
        worker.register_timer(services.assign_next)
        # Queue positions and wait estimates: shown by the handoffs app (the handoff JSON,
        # system messages, the inbox), kept right live by the worker's pushes when the queue
        # moves (a handoff joins or leaves it, agents come online).
        queue_place.register_queue_source(position.DatabaseQueue())
        handoff_signals.handoff_changed.connect(
            queue_live.queue_moved, dispatch_uid="routing.queue_live"
        )
        agent_signals.availability_changed.connect(
            queue_live.queue_moved, dispatch_uid="routing.queue_live"
        )
        worker.register_timer(queue_live.push_queue_positions)
