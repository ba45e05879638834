"""The cast every test draws from: an online agent, a second agent, an offline agent, a bot
and another bot."""

from __future__ import annotations

import pytest

from tests.factories import BotFactory, UserFactory


@pytest.fixture
def bot(db):
    return BotFactory(name="Acme bot")


@pytest.fixture
def other_bot(db):
    return BotFactory(name="Other bot")


@pytest.fixture
def agent(db):
    return UserFactory(username="alice", first_name="Alice", last_name="Martin", online=True)


@pytest.fixture
def second_agent(db):
    return UserFactory(username="bob", first_name="Bob", last_name="Stone", online=True)


@pytest.fixture
def offline_agent(db):
    return UserFactory(username="carol", first_name="Carol", last_name="Ng", online=False)
