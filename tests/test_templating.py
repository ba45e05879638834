from __future__ import annotations

import pytest

from handoffs.naming import generated_name
from handoffs.templating import render_message_template
from tests.factories import EndUserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def end_user(bot):
    return EndUserFactory(
        bot=bot,
        external_id="u-1",
        variables={
            "fullName": "Ada Lovelace",
            "plan": "gold",
            "address": {"city": "London", "zip": 12345},
            "orders": [{"id": "A-1"}, {"id": "A-2"}],
            "vip": True,
            "none": None,
        },
    )


def render(text, end_user, agent):
    return render_message_template(text=text, end_user=end_user, agent=agent)


def test_user_and_agent_placeholders_are_filled(end_user, agent):
    text = "Hi {{user.fullName}}, I'm {{agent.firstName}} {{agent.lastName}} ({{agent.name}})."

    assert render(text, end_user, agent) == "Hi Ada Lovelace, I'm Alice Martin (Alice Martin)."


def test_nested_paths_list_indices_and_scalars(end_user, agent):
    text = "{{user.address.city}} {{user.address.zip}} {{user.orders.1.id}} {{user.vip}}"

    assert render(text, end_user, agent) == "London 12345 A-2 true"


def test_whitespace_inside_the_braces_is_tolerated(end_user, agent):
    assert render("{{ user.plan }}/{{   agent.firstName}}", end_user, agent) == "gold/Alice"


def test_unknown_and_missing_placeholders_become_empty(end_user, agent):
    text = "[{{user.nope}}][{{user.address.nope}}][{{user.orders.9.id}}][{{agent.email}}]"
    text += "[{{foo.bar}}][{{user.none}}][{{user}}]"

    assert render(text, end_user, agent) == "[][][][][][][]"


def test_full_name_falls_back_like_the_contact_details(bot, agent, settings):
    user = EndUserFactory(bot=bot, external_id="anon", variables={})

    settings.HITLNEXT_DEFAULT_USERNAME = False
    assert render("Hi {{user.fullName}}", user, agent) == "Hi Anonymous User"
    settings.HITLNEXT_DEFAULT_USERNAME = True
    assert render("Hi {{user.fullName}}", user, agent) == (
        "Hi " + generated_name(bot_id=bot.pk, external_id="anon")
    )


def test_agent_name_falls_back_to_username(end_user, db):
    from tests.factories import UserFactory

    nameless = UserFactory(username="dave", first_name="", last_name="")

    assert render("{{agent.name}}|{{agent.firstName}}", end_user, nameless) == "dave|"


def test_template_syntax_and_expressions_are_not_evaluated(end_user, agent):
    text = "{{ 7*7 }} {% if True %}yes{% endif %} {{ user.plan|upper }} {# c #}"

    result = render(text, end_user, agent)

    assert "49" not in result
    assert "GOLD" not in result
    assert result == text


def test_user_data_is_not_evaluated_or_expanded_again(bot, agent):
    user = EndUserFactory(
        bot=bot,
        variables={
            "fullName": "{{agent.name}}",
            "note": "{% load static %}{{ 7*7 }}",
            "html": "<b>hi</b>",
        },
    )

    result = render("{{user.fullName}}|{{user.note}}|{{user.html}}", user, agent)

    # Inserted in a textbox, not HTML: escaping belongs to whoever renders it.
    assert result == "{{agent.name}}|{% load static %}{{ 7*7 }}|<b>hi</b>"


def test_text_without_placeholders_is_unchanged(end_user, agent):
    text = "Plain text with { single } braces and }} stray {{ ones"

    assert render(text, end_user, agent) == text
