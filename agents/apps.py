from __future__ import annotations

from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth.models import User
        from django.db.models.signals import post_delete, post_save

        from agents import revocation, services
        from webhooks import worker

        worker.register_timer(services.expire_agent_sessions)
        # A deactivated or deleted agent, or a changed password, ends their open sockets.
        post_save.connect(revocation.user_changed, sender=User, dispatch_uid="agents.revocation")
        post_delete.connect(revocation.user_deleted, sender=User, dispatch_uid="agents.revocation")
