from __future__ import annotations

from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here, once the app registry is ready (they use models).
        from agents import signals as agent_signals
        from handoffs import consumers
        from handoffs import signals as handoff_signals
        from reports import access, live
        from webhooks import worker

        # The wallboard (/reports/live/): the page's socket joins its group, for those who may
        # see the reports, and is answered the fragment as it is now ...
        consumers.register_page_group(
            "wallboard",
            group=live.WALLBOARD_GROUP,
            may_join=access.can_view_reports,
            state=live.render_wallboard,
        )
        # ... then pushed by the worker's next pass after changes to the queue or to agents'
        # loads (once per burst), and when no signal announced them (an agent going offline).
        handoff_signals.handoff_changed.connect(live.changed, dispatch_uid="reports.live")
        agent_signals.availability_changed.connect(live.changed, dispatch_uid="reports.live")
        worker.register_timer(live.flush)
