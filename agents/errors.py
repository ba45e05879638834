"""Refusals the agents app raises; each entry point shows their message to the agent."""

from __future__ import annotations

from django.utils.translation import gettext


class AgentOffline(Exception):
    """Every action an agent takes (assign, write, note, resolve…) needs them online."""

    def __init__(self) -> None:
        super().__init__(gettext("Go online to do this."))
