"""Domain errors raised by the services; each entry point maps them (the API to 409)."""

from __future__ import annotations

from agents.errors import AgentOffline


class HandoffError(Exception):
    """A request the state machine refuses."""


class IllegalTransition(HandoffError):
    def __init__(self, handoff_id: int, status: str, action: str) -> None:
        self.handoff_id = handoff_id
        self.status = status
        self.action = action
        super().__init__(f"Handoff #{handoff_id} is {status}: it cannot be {action}.")


class AlreadyAssigned(IllegalTransition):
    """Lost the race for "Assign to me": someone else took it first."""

    def __init__(self, handoff_id: int, agent_name: str) -> None:
        self.agent_name = agent_name
        super().__init__(handoff_id, "assigned", "assigned")
        self.args = (f"{agent_name} already took handoff #{handoff_id}.",)


class NotYourHandoff(HandoffError):
    def __init__(self, handoff_id: int) -> None:
        super().__init__(f"Handoff #{handoff_id} is not assigned to you.")


class UnknownLabel(HandoffError):
    def __init__(self, names: list[str]) -> None:
        self.names = names
        super().__init__("Unknown label: " + ", ".join(names))


class ConversationDeletionRefused(HandoffError):
    """Deleting a conversation's messages is not allowed (now, or at all)."""


class ConversationDeletionDisabled(ConversationDeletionRefused):
    def __init__(self) -> None:
        super().__init__(
            "Conversation deletion is turned off (HITLNEXT_ENABLE_CONVERSATION_DELETION)."
        )


class ConversationStillActive(ConversationDeletionRefused):
    def __init__(self, handoff_id: int) -> None:
        self.handoff_id = handoff_id
        super().__init__(
            f"Handoff #{handoff_id} is still open: resolve it before deleting the conversation."
        )


class TransferRefused(HandoffError):
    """A transfer to an agent who cannot take it (offline, unknown, already the assignee)."""


# What an agent's action may be refused with: each view shows the message to the agent.
REFUSALS = (HandoffError, AgentOffline)
