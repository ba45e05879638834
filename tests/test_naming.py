from __future__ import annotations

import pytest

from handoffs.naming import (
    ANONYMOUS,
    display_user_name,
    flatten_variables,
    generated_name,
    user_email,
)
from tests.factories import EndUserFactory

pytestmark = pytest.mark.django_db


def test_full_name_wins_whatever_the_setting(bot, settings):
    settings.HITLNEXT_DEFAULT_USERNAME = True
    user = EndUserFactory(bot=bot, variables={"fullName": "  Ada Lovelace "})

    assert display_user_name(user) == "Ada Lovelace"


def test_without_full_name_and_setting_off_the_user_is_anonymous(bot, settings):
    settings.HITLNEXT_DEFAULT_USERNAME = False
    user = EndUserFactory(bot=bot, variables={"fullName": "", "plan": "gold"})

    assert display_user_name(user) == ANONYMOUS == "Anonymous User"


def test_without_full_name_and_setting_on_the_user_gets_a_generated_name(bot, settings):
    settings.HITLNEXT_DEFAULT_USERNAME = True
    user = EndUserFactory(bot=bot, external_id="u-42", variables={})

    name = display_user_name(user)

    assert name != ANONYMOUS
    assert len(name.split()) == 2
    assert name == generated_name(bot_id=bot.pk, external_id="u-42")


def test_generated_name_is_the_same_on_every_call_and_for_a_reloaded_row(bot, settings):
    settings.HITLNEXT_DEFAULT_USERNAME = True
    user = EndUserFactory(bot=bot, external_id="u-7", variables={})
    first = display_user_name(user)
    user.refresh_from_db()

    assert display_user_name(user) == first
    # Not derived from anything process-local (hash salt, row order): a fixed known value,
    # so every server process and every device shows the same name.
    assert generated_name(bot_id=1, external_id="u-7") == "Mighty Leopard"


def test_generated_names_differ_between_users_and_bots():
    names = {generated_name(bot_id=1, external_id=f"user-{n}") for n in range(200)}
    # 4096 combinations: 200 users collide a little, never massively.
    assert len(names) > 180
    same_user_other_bots = {generated_name(bot_id=b, external_id="user-1") for b in range(1, 30)}
    assert len(same_user_other_bots) > 20


def test_user_email_is_returned_only_when_present(bot):
    assert user_email(EndUserFactory(bot=bot, variables={"email": " ada@example.com "})) == (
        "ada@example.com"
    )
    assert user_email(EndUserFactory(bot=bot, variables={"email": ""})) is None
    assert user_email(EndUserFactory(bot=bot, variables={"email": 12})) is None
    assert user_email(EndUserFactory(bot=bot, variables={})) is None


def test_flatten_variables_uses_sorted_dotted_keys_and_json_scalars():
    variables = {
        "plan": "gold",
        "address": {"city": "Paris", "geo": {"lat": 48.85}},
        "vip": True,
        "age": 36,
        "nickname": None,
        "tags": ["a", "b"],
        "prefs": {},
    }

    assert flatten_variables(variables) == [
        ("address.city", "Paris"),
        ("address.geo.lat", "48.85"),
        ("age", "36"),
        ("nickname", "null"),
        ("plan", "gold"),
        ("prefs", "{}"),
        ("tags", '["a", "b"]'),
        ("vip", "true"),
    ]


def test_flatten_variables_of_nothing_is_empty():
    assert flatten_variables({}) == []
    assert flatten_variables(None) == []
    assert flatten_variables(["not", "an", "object"]) == []


def test_flatten_variables_keeps_unicode_readable():
    assert flatten_variables({"city": {"name": "Zürich"}, "n": ["é"]}) == [
        ("city.name", "Zürich"),
        ("n", '["é"]'),
    ]
