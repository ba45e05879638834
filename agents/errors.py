"""Refusals the agents app raises; each entry point shows their message to the agent."""

from __future__ import annotations


class AgentOffline(Exception):
    """Every action an agent takes (assign, write, note, resolve…) needs them online."""

    def __init__(self) -> None:
        super().__init__("Go online to do this.")
