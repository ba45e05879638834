"""Frame size limits of the agent socket (the web chat's are in test_webchat.py)."""

from __future__ import annotations

import json

import pytest

from handoffs.consumers import MAX_FRAME_BYTES
from tests.test_consumers import connect, frames, say

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def test_an_oversized_frame_closes_the_agent_socket_with_4413(agent):
    communicator = await connect(agent)
    padding = "x" * MAX_FRAME_BYTES

    await communicator.send_to(text_data=json.dumps({"action": "hello", "pad": padding}))

    assert await communicator.receive_output() == {"type": "websocket.close", "code": 4413}


async def test_a_binary_frame_closes_the_agent_socket_with_4413(agent):
    communicator = await connect(agent)

    await communicator.send_to(bytes_data=b"\x00" * 10)

    assert await communicator.receive_output() == {"type": "websocket.close", "code": 4413}


async def test_a_frame_at_the_limit_is_still_read(agent):
    communicator = await connect(agent)
    message = {"action": "hello", "handoff": None, "after": None, "pad": ""}
    message["pad"] = "x" * (MAX_FRAME_BYTES - len(json.dumps(message)))
    assert len(json.dumps(message).encode()) == MAX_FRAME_BYTES

    await communicator.send_to(text_data=json.dumps(message))

    (state,) = await frames(communicator)
    assert '<button id="online-switch"' in state
    await say(communicator, action="activity")
    await communicator.disconnect()
