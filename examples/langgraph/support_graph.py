"""A LangGraph support agent that escalates to hitlnext's live agents.

    relay_user -> assistant -> answer                                     (an ordinary turn)
                            -> hand_off -> wait_for_agent -> back_to_bot  (escalation)

- `relay_user` relays the user's message to hitlnext (POST /api/v1/messages), so agents
  read the whole conversation; `paused` in the answer means a handoff is active: the graph
  stops there and the bot says nothing.
- `assistant` calls the chat model, which may call the `escalate_to_human` tool.
- `hand_off` starts the handoff (POST /api/v1/handoffs: the state's messages as history) and
  tells the user; `wait_for_agent` then stops the graph with `interrupt()`. The checkpointer
  keeps it, so the process may exit: whoever sees `handoff.resolved` (or expired, rejected)
  later resumes it with `Command(resume={...})` carrying the handoff's messages (the agent's
  and the user's), which land in the state.
- `back_to_bot` tells the user the bot is back.

Side effects come before `interrupt()` in a node of their own, because a resumed node runs
again from its start; each is safe to repeat (an Idempotency-Key, stable message ids).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypedDict

from hitlnext_client import HistoryItem, HitlnextClient
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_core.tools import tool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import interrupt

SYSTEM_PROMPT = (
    "You are the support assistant of a parcel company. Answer briefly. When the user asks "
    "for a person, or you cannot help, call escalate_to_human."
)
HANDING_OFF = "Let me find you a person. Stay here: they will write to you in this chat."
BACK = {
    "handoff.resolved": "I'm back. Anything else I can do for you?",
    "handoff.expired": "Sorry, nobody is available right now. I'm back: how can I help?",
}
# The name of agents' and hitlnext's notices in the state (a model API's `name` allows no
# spaces): who wrote each is in `additional_kwargs["hitlnext"]`.
HUMAN_AGENT = "human_agent"

# Delivers a text to the user on the bot's own channel: (conversation_id, user_id, text).
Deliver = Callable[[str, str, str], None]


@tool
def escalate_to_human(reason: str) -> str:
    """Hand the conversation to a human agent, when the user asks for a person or the
    assistant cannot help. `reason`: one line for the agent."""
    return reason  # never run: the graph's hand_off node does the work


class SupportState(TypedDict, total=False):
    conversation_id: str
    user_id: str
    channel: str
    user: dict[str, Any]  # user variables shown to agents (`fullName`, `email`...)
    messages: Annotated[list[AnyMessage], add_messages]
    handoff: dict[str, Any] | None  # {"id", "status", "exit_type"} of the last handoff


class Outcome(TypedDict):
    """What resumes `wait_for_agent`: how the handoff ended and what was said meanwhile."""

    type: str  # handoff.resolved, handoff.expired or handoff.rejected
    handoff: dict[str, Any]  # the handoff JSON of the event
    # {"id", "author": "user"|"agent"|"system", "text", "created_at", "agent"}, in order
    messages: list[dict[str, Any]]


def wants_a_person(text: str) -> bool:
    words = text.lower()
    return any(word in words for word in ("person", "human", "agent", "someone"))


def demo_model() -> Runnable[list[AnyMessage], AIMessage]:
    """Stands in for an LLM with `escalate_to_human` bound, with no network: langchain-core's
    GenericFakeChatModel, fed the reply such a model would give. For a real one:
    `ChatOpenAI(model=...).bind_tools([escalate_to_human])` (or any chat model)."""

    def reply(messages: list[AnyMessage]) -> AIMessage:
        last = str(messages[-1].content)
        if wants_a_person(last):
            call = {"name": escalate_to_human.name, "args": {"reason": last}, "id": _id("call")}
            scripted = AIMessage(content="", tool_calls=[call])
        else:
            scripted = AIMessage(content=f'About "{last}": I can track parcels. Ask away!')
        return GenericFakeChatModel(messages=iter([scripted])).invoke(messages)

    return RunnableLambda(reply)


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def as_history(message: AnyMessage) -> HistoryItem | None:
    """A message of the state as hitlnext's history item; None for tool traffic and what
    came from hitlnext itself."""
    text = message.content if isinstance(message.content, str) else ""
    if isinstance(message, HumanMessage):
        direction: Literal["incoming", "outgoing"] = "incoming"
    elif isinstance(message, AIMessage) and message.name != HUMAN_AGENT:
        direction = "outgoing"
    else:
        return None
    if not text.strip():
        return None
    return {"id": str(message.id), "direction": direction, "text": text}


def build_graph(
    *,
    client: HitlnextClient,
    deliver: Deliver,
    checkpointer: BaseCheckpointSaver,
    model: Runnable[list[AnyMessage], AIMessage] | None = None,
) -> CompiledStateGraph:
    model = model or demo_model()

    def relay(state: SupportState, message: AnyMessage) -> bool:
        """Relay one message of the state; True while a handoff is active (paused)."""
        item = as_history(message)
        if item is None:
            return False
        relayed = client.relay_message(
            conversation_id=state["conversation_id"],
            user_id=state["user_id"],
            channel=state["channel"],
            **item,
        )
        return relayed.paused

    def say(state: SupportState, text: str, message_id: str) -> dict[str, Any]:
        """The bot says `text`: delivered to the user, relayed to hitlnext, kept in the state."""
        message = AIMessage(content=text, id=message_id)
        deliver(state["conversation_id"], state["user_id"], text)
        relay(state, message)
        return {"messages": [message]}

    def relay_user(state: SupportState) -> dict[str, Any]:
        paused = relay(state, state["messages"][-1])
        return {"handoff": {"status": "active"} if paused else state.get("handoff")}

    def after_relay(state: SupportState) -> str:
        # A handoff this graph did not open (another process of the bot, say): stay quiet.
        handoff = state.get("handoff") or {}
        return END if handoff.get("status") == "active" else "assistant"

    def assistant(state: SupportState) -> dict[str, Any]:
        return {"messages": [model.invoke([SystemMessage(SYSTEM_PROMPT), *state["messages"]])]}

    def after_assistant(state: SupportState) -> str:
        last = state["messages"][-1]
        escalates = isinstance(last, AIMessage) and any(
            call["name"] == escalate_to_human.name for call in last.tool_calls
        )
        return "hand_off" if escalates else "answer"

    def answer(state: SupportState) -> dict[str, Any]:
        last = state["messages"][-1]
        deliver(state["conversation_id"], state["user_id"], str(last.content))
        relay(state, last)
        return {}

    def hand_off(state: SupportState) -> dict[str, Any]:
        last = state["messages"][-1]
        assert isinstance(last, AIMessage)
        call = next(c for c in last.tool_calls if c["name"] == escalate_to_human.name)
        history = [item for item in map(as_history, state["messages"]) if item is not None]
        handoff = client.create_handoff(
            conversation_id=state["conversation_id"],
            user_id=state["user_id"],
            channel=state["channel"],
            user=state.get("user") or {},
            history=history[-200:],
            # Run again (a crash before the checkpoint), the node finds the same handoff.
            idempotency_key=f"langgraph-{state['conversation_id']}-{call['id']}",
        )
        result = say(state, HANDING_OFF, f"{call['id']}-handing-off")
        tool_answer = ToolMessage(f"Handoff #{handoff.id} started.", tool_call_id=call["id"])
        return {
            "messages": [tool_answer, *result["messages"]],
            "handoff": {"id": handoff.id, "status": handoff.status, "exit_type": None},
        }

    def wait_for_agent(state: SupportState) -> dict[str, Any]:
        outcome: Outcome = interrupt({"handoff_id": (state.get("handoff") or {}).get("id")})
        messages: list[AnyMessage] = []
        for item in outcome["messages"]:
            if item["author"] == "user":
                messages.append(HumanMessage(item["text"], id=item["id"]))
            else:
                messages.append(
                    AIMessage(
                        item["text"],
                        id=item["id"],
                        name=HUMAN_AGENT,
                        additional_kwargs={"hitlnext": item},
                    )
                )
        handoff = outcome["handoff"]
        return {
            "messages": messages,
            "handoff": {
                "id": handoff["id"],
                "status": handoff["status"],
                "exit_type": outcome["type"],
            },
        }

    def back_to_bot(state: SupportState) -> dict[str, Any]:
        handoff = state.get("handoff") or {}
        text = BACK.get(handoff.get("exit_type") or "")
        if not text:  # rejected: the bot cancelled it, it knows
            return {}
        return say(state, text, f"handoff-{handoff['id']}-back")

    graph = StateGraph(SupportState)
    graph.add_node("relay_user", relay_user)
    graph.add_node("assistant", assistant)
    graph.add_node("answer", answer)
    graph.add_node("hand_off", hand_off)
    graph.add_node("wait_for_agent", wait_for_agent)
    graph.add_node("back_to_bot", back_to_bot)
    graph.add_edge(START, "relay_user")
    graph.add_conditional_edges("relay_user", after_relay, ["assistant", END])
    graph.add_conditional_edges("assistant", after_assistant, ["hand_off", "answer"])
    graph.add_edge("answer", END)
    graph.add_edge("hand_off", "wait_for_agent")
    graph.add_edge("wait_for_agent", "back_to_bot")
    graph.add_edge("back_to_bot", END)
    return graph.compile(checkpointer=checkpointer)
