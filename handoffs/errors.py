"""Domain errors raised by the services; each entry point maps them (the API to 409)."""

from __future__ import annotations

from django.utils.translation import gettext, pgettext_lazy

from agents.errors import AgentOffline

# The words of "Handoff #5 is <status>: it cannot be <action>." in the agent's language. The
# message is made where it is raised: the request's language (the bot API's is English).
_STATUS_WORDS = {
    "pending": pgettext_lazy("a handoff is …", "pending"),
    "assigned": pgettext_lazy("a handoff is …", "assigned"),
    "resolved": pgettext_lazy("a handoff is …", "resolved"),
    "rejected": pgettext_lazy("a handoff is …", "rejected"),
    "expired": pgettext_lazy("a handoff is …", "expired"),
}
_ACTION_WORDS = {
    "assigned": pgettext_lazy("a handoff cannot be …", "assigned"),
    "resolved": pgettext_lazy("a handoff cannot be …", "resolved"),
    "rejected": pgettext_lazy("a handoff cannot be …", "rejected"),
    "requeued": pgettext_lazy("a handoff cannot be …", "requeued"),
    "transferred": pgettext_lazy("a handoff cannot be …", "transferred"),
    "written to": pgettext_lazy("a handoff cannot be …", "written to"),
    "rated": pgettext_lazy("a handoff cannot be …", "rated"),
}


class HandoffError(Exception):
    """A request the state machine refuses."""


class IllegalTransition(HandoffError):
    def __init__(self, handoff_id: int, status: str, action: str) -> None:
        self.handoff_id = handoff_id
        self.status = status
        self.action = action
        super().__init__(
            gettext("Handoff #%(id)s is %(status)s: it cannot be %(action)s.")
            % {
                "id": handoff_id,
                "status": _STATUS_WORDS.get(status, status),
                "action": _ACTION_WORDS.get(action, action),
            }
        )


class AlreadyAssigned(IllegalTransition):
    """Lost the race for "Assign to me": someone else took it first."""

    def __init__(self, handoff_id: int, agent_name: str) -> None:
        self.agent_name = agent_name
        super().__init__(handoff_id, "assigned", "assigned")
        self.args = (
            gettext("%(name)s already took handoff #%(id)s.")
            % {"name": agent_name, "id": handoff_id},
        )


class NotYourHandoff(HandoffError):
    def __init__(self, handoff_id: int) -> None:
        super().__init__(gettext("Handoff #%(id)s is not assigned to you.") % {"id": handoff_id})


class UnknownLabel(HandoffError):
    def __init__(self, names: list[str]) -> None:
        self.names = names
        super().__init__(gettext("Unknown label: %(names)s") % {"names": ", ".join(names)})


class ConversationDeletionRefused(HandoffError):
    """Deleting a conversation's messages is not allowed (now, or at all)."""


class ConversationDeletionDisabled(ConversationDeletionRefused):
    def __init__(self) -> None:
        super().__init__(
            gettext("Conversation deletion is turned off (HITLNEXT_ENABLE_CONVERSATION_DELETION).")
        )


class ConversationStillActive(ConversationDeletionRefused):
    def __init__(self, handoff_id: int) -> None:
        self.handoff_id = handoff_id
        super().__init__(
            gettext("Handoff #%(id)s is still open: resolve it before deleting the conversation.")
            % {"id": handoff_id}
        )


class TransferRefused(HandoffError):
    """A transfer to an agent who cannot take it (offline, unknown, already the assignee)."""


# What an agent's action may be refused with: each view shows the message to the agent.
REFUSALS = (HandoffError, AgentOffline)
