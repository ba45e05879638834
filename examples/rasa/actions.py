"""Rasa custom actions that hand a conversation to hitlnext's live agents.

Run by the Rasa action server (rasa-sdk), from this folder:

    HITLNEXT_URL=http://127.0.0.1:8000 HITLNEXT_API_KEY=hk_... \\
        python -m rasa_sdk --actions actions --port 5055

- `action_hand_off_to_human` (predicted by a rule, see data/rules.yml): starts a handoff with
  POST /api/v1/handoffs, the tracker's slots as the user's variables and its messages as the
  history, then pauses the Rasa conversation (ConversationPaused), so the bot stays quiet.
- `action_hitlnext_relay` (a custom slot mapping, see domain.yml): Rasa's
  action_extract_slots runs it after every user message, paused or not. It relays the new
  user message, and the bot's answers since the previous one, with POST /api/v1/messages, so
  agents read the whole conversation, and keeps the answer's `paused` in a slot.

relay.py, beside this file, takes agents' messages (signed webhooks) back to the user through
Rasa, and resumes the conversation when the handoff ends.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from datetime import UTC, datetime
from typing import Any

from hitlnext_client import HistoryItem, HitlnextClient, HitlnextError
from httpx import HTTPError
from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

logger = logging.getLogger(__name__)

SLOT_HANDOFF = "hitlnext_handoff_id"
SLOT_PAUSED = "hitlnext_paused"
# Slots that are not facts about the user: never sent as user variables.
NOT_USER_VARIABLES = {SLOT_HANDOFF, SLOT_PAUSED, "requested_slot", "session_started_metadata"}
# Bot messages relay.py put in the tracker (an agent's, a system notice) carry this metadata
# key: they came from hitlnext, so they are not relayed back to it.
FROM_HITLNEXT = "hitlnext"
HISTORY_MAX = 200  # the API's limit


@functools.cache
def hitlnext() -> HitlnextClient:
    """One client per action server process, from HITLNEXT_URL and HITLNEXT_API_KEY."""
    return HitlnextClient.from_env()


def message_id(event: dict[str, Any]) -> str:
    """The id hitlnext stores a tracker message under, the same every time it is sent (so a
    message relayed twice, or relayed and then sent in a handoff's history, is stored once)."""
    if event["event"] == "user" and event.get("message_id"):
        return str(event["message_id"])
    return f"rasa-{event['event']}-{event['timestamp']}"


def as_message(event: dict[str, Any]) -> HistoryItem | None:
    """A tracker event as a message for hitlnext; None for events that are not messages."""
    if event.get("event") not in ("user", "bot"):
        return None
    if FROM_HITLNEXT in (event.get("metadata") or {}):
        return None
    data = {key: value for key, value in (event.get("data") or {}).items() if value}
    if not (event.get("text") or data):
        return None
    item: HistoryItem = {
        "id": message_id(event),
        "direction": "incoming" if event["event"] == "user" else "outgoing",
        "text": event.get("text") or "",
    }
    if data:  # buttons, images, custom payloads: agents see a summary
        item["payload"] = data
    if event.get("timestamp"):
        item["created_at"] = datetime.fromtimestamp(event["timestamp"], UTC).isoformat()
    return item


def user_variables(tracker: Tracker) -> dict[str, Any]:
    """The slots that are set, as the user's variables agents see (name a slot `fullName`
    for the name the inbox shows)."""
    return {
        name: value
        for name, value in tracker.current_slot_values().items()
        if value is not None and name not in NOT_USER_VARIABLES
    }


def channel(tracker: Tracker) -> str:
    return tracker.get_latest_input_channel() or "rasa"


class ActionHandOffToHuman(Action):
    def name(self) -> str:
        return "action_hand_off_to_human"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        messages = [item for item in map(as_message, tracker.events) if item is not None]
        latest = tracker.latest_message or {}
        try:
            handoff = await asyncio.to_thread(
                hitlnext().create_handoff,
                conversation_id=tracker.sender_id,
                user_id=tracker.sender_id,
                channel=channel(tracker),
                user=user_variables(tracker),
                history=messages[-HISTORY_MAX:],
                # Rasa retries an action call that timed out: the same user message asking
                # for a person opens one handoff, whatever happens.
                idempotency_key=f"rasa-handoff-{tracker.sender_id}-{latest.get('message_id')}",
            )
        except (HitlnextError, HTTPError) as exc:
            logger.error("hitlnext refused the handoff of %s: %s", tracker.sender_id, exc)
            dispatcher.utter_message(response="utter_handoff_failed")
            return []
        logger.info("%s handed off: handoff #%s", tracker.sender_id, handoff.id)
        dispatcher.utter_message(response="utter_handoff_started")
        # Paused, Rasa predicts nothing for the user's messages (it still runs the relay
        # below on each one) until relay.py resumes the conversation.
        return [
            SlotSet(SLOT_HANDOFF, str(handoff.id)),
            SlotSet(SLOT_PAUSED, True),
            ConversationPaused(),
        ]


class ActionRelayToHitlnext(Action):
    def name(self) -> str:
        return "action_hitlnext_relay"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        # The user's new message, and before it what the bot said since the previous one.
        turn: list[HistoryItem] = []
        for event in reversed(tracker.events):
            item = as_message(event)
            if item is None:
                continue
            if item["direction"] == "incoming" and turn:
                break
            turn.insert(0, item)
        if not turn:
            return []
        try:
            for item in turn:
                relayed = await asyncio.to_thread(
                    hitlnext().relay_message,
                    conversation_id=tracker.sender_id,
                    user_id=tracker.sender_id,
                    channel=channel(tracker),
                    **item,
                )
        except (HitlnextError, HTTPError) as exc:
            # The bot goes on. Agents miss this turn until a handoff sends the whole history
            # (each message under the same id: nothing is stored twice).
            logger.error("could not relay %s's message to hitlnext: %s", tracker.sender_id, exc)
            return []
        if relayed.paused and not tracker.is_paused():
            logger.warning("%s has an active handoff the bot did not open", tracker.sender_id)
        return [SlotSet(SLOT_PAUSED, relayed.paused)]
