"""The sign-in backend: Django's, loading the agent's profile with the user in one query."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import User


class AgentBackend(ModelBackend):
    """Every signed-in request reads the agent's page language from the profile
    (agents/middleware.py): a join on the user's own query, not a query of its own."""

    def get_user(self, user_id: Any) -> User | None:
        try:
            user = User._default_manager.select_related("agent_profile").get(pk=user_id)
        except User.DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None
