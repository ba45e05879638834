"""What relaying one message costs in SQL, pushes included (pinned: it may only go down)."""

from __future__ import annotations

import pytest

from handoffs import services
from handoffs.messaging import relay_message

pytestmark = pytest.mark.django_db


def _relay(bot, n: int, message_id: str):
    return relay_message(
        bot=bot,
        conversation_id=f"th-{n}",
        user_id=f"u-{n}",
        channel="web",
        external_id=message_id,
        direction="incoming",
        text=f"hello {message_id}",
    )


def test_a_message_in_a_known_conversation(
    bot, django_assert_num_queries, django_capture_on_commit_callbacks
):
    _relay(bot, 1, "first")
    # savepoint, the locked conversation with its user (and whether a handoff is active or
    # the id already stored), insert, conversation's time, release; the push renders the
    # message as inserted.
    with django_assert_num_queries(5):
        with django_capture_on_commit_callbacks(execute=True) as pushes:
            _relay(bot, 1, "second")
    assert len(pushes) == 1


def test_a_message_sent_again_is_found_not_stored(bot):
    first = _relay(bot, 3, "again")
    again = _relay(bot, 3, "again")
    assert again.created is False and again.message.pk == first.message.pk
    assert again.message.conversation.external_id == "th-3"


def test_a_user_message_in_a_handoff(
    bot, django_assert_num_queries, django_capture_on_commit_callbacks
):
    services.start_handoff(bot=bot, conversation_id="th-2", user_id="u-2", channel="web")
    # As above, plus the active handoff, its preview, and its inbox item (the handoff, its
    # labels).
    with django_assert_num_queries(9):
        with django_capture_on_commit_callbacks(execute=True) as pushes:
            _relay(bot, 2, "in-handoff")
    assert len(pushes) == 2
