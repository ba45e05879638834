from __future__ import annotations

import pytest

from handoffs.naming import generated_name
from handoffs.templating import fill_system_message, render_message_template
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


def test_unknown_and_missing_placeholders_go_with_their_clause_or_sentence(end_user, agent):
    text = "Your plan: {{user.plan}}. Your code is {{user.nope}}. Call {{foo.bar}}, we answer fast!"

    assert render(text, end_user, agent) == "Your plan: gold. We answer fast!"
    assert render("[{{user.none}}] [{{user}}] [{{agent.email}}]", end_user, agent) == ""
    assert render("{{user.address.nope}} ({{user.orders.9.id}})", end_user, agent) == ""


def test_full_name_falls_back_to_the_shown_name(bot, agent, settings):
    user = EndUserFactory(bot=bot, external_id="anon", variables={})

    settings.HITLNEXT_DEFAULT_USERNAME = True
    assert render("Hi {{user.fullName}}", user, agent) == (
        "Hi " + generated_name(bot_id=bot.pk, external_id="anon")
    )
    # Never "Anonymous User" said to the user: the name goes, with its comma.
    settings.HITLNEXT_DEFAULT_USERNAME = False
    assert render("Hi {{user.fullName}}", user, agent) == "Hi"


def test_the_reported_template_reads_well_for_a_web_chat_visitor(bot, agent, settings):
    """Tried as a new user would: "Hello {{fullName}}, I am here to help." became "Hello , I
    am here to help." for a web chat visitor, who has no name."""
    settings.HITLNEXT_DEFAULT_USERNAME = False
    visitor = EndUserFactory(bot=bot, external_id="visitor-1", variables={})
    text = "Hello {{fullName}}, I am here to help."

    assert render(text, visitor, agent) == "Hello, I am here to help."
    visitor.variables = {"fullName": "Ada"}
    assert render(text, visitor, agent) == "Hello Ada, I am here to help."


@pytest.mark.parametrize(
    ("text", "filled"),
    [
        ("Hello {{fullName}}, I am here to help.", "Hello, I am here to help."),
        ("Hello, {{ user.fullName }}, welcome back.", "Hello, welcome back."),
        ("Thanks, {{fullName}}! Bye.", "Thanks! Bye."),
        ("Thanks {{fullName}}.", "Thanks."),
        ("{{fullName}}, your order has shipped.", "Your order has shipped."),
        ("Dear {{fullName}}\nYour order has shipped.", "Dear\nYour order has shipped."),
        ("{{fullName}}!\nHow can I help?", "How can I help?"),
        ("Hi {{fullName}}, I'm {{agent.firstName}}.", "Hi, I'm Alice."),
    ],
)
def test_an_unknown_user_name_goes_with_the_comma_setting_it_off(text, filled, bot, agent):
    visitor = EndUserFactory(bot=bot, variables={})

    assert render(text, visitor, agent) == filled


def test_agent_name_falls_back_to_username(end_user, db):
    from tests.factories import UserFactory

    nameless = UserFactory(username="dave", first_name="", last_name="")

    assert render("{{agent.name}}", end_user, nameless) == "dave"
    assert render("I'm {{agent.name}}. I'm {{agent.firstName}}.", end_user, nameless) == "I'm dave."


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


# --- System messages (transfer, assign) -------------------------------------------------------


def test_the_reported_system_message_reads_well_for_a_web_chat_visitor(settings):
    """The exact report: a transfer message "Hello {{fullName}}, I am here to help." sent to a
    web chat visitor, who has no name."""
    from conversations.models import Message
    from handoffs.models import SystemMessage
    from webchat.services import request_person

    settings.HITLNEXT_DEFAULT_USERNAME = False
    SystemMessage.objects.filter(kind="transfer", language="en").update(
        text="Hello {{fullName}}, I am here to help."
    )

    handoff, _ = request_person(visitor_id="v-reported", language="en")

    sent = handoff.conversation.messages.get(direction=Message.Direction.SYSTEM)
    assert sent.text == "Hello, I am here to help."


def test_system_messages_fill_the_users_name_and_variables(bot, agent):
    from handoffs.models import SystemMessage
    from handoffs.services import assign_handoff, start_handoff

    SystemMessage.objects.filter(kind="transfer", language="en").update(
        text="Hello {{fullName}}, your plan is {{user.plan}}. Unknown {{ticket}} here."
    )
    SystemMessage.objects.filter(kind="assign", language="en").update(
        text="{{fullName}}, {{agentName}} will help you."
    )

    handoff, _ = start_handoff(
        bot=bot,
        conversation_id="c-1",
        user_id="u-1",
        channel="web",
        user_variables={"fullName": "Ada", "plan": "gold"},
    )
    assign_handoff(handoff=handoff, agent=agent)

    texts = list(
        handoff.conversation.messages.filter(direction="system").values_list("text", flat=True)
    )
    assert texts == ["Hello Ada, your plan is gold.", "Ada, Alice Martin will help you."]


@pytest.mark.parametrize(
    ("text", "filled"),
    [
        ("Hello {{fullName}}, I am here to help.", "Hello, I am here to help."),
        ("{{fullName}}, {{agentName}} will help you.", "Alice will help you."),
        # Any other unknown placeholder takes its clause (the wait placeholders' rule).
        (
            "Thanks for waiting, {{nickname}}. An agent is coming.",
            "Thanks for waiting. An agent is coming.",
        ),
        ("Your ticket {{user.ticket}} is open. Bye.", "Bye."),
        ("Hello {{fullName}}, number {{queuePosition}} in line.", "Hello."),
    ],
)
def test_fill_system_message_drops_what_has_no_value(text, filled, bot):
    visitor = EndUserFactory(bot=bot, variables={})

    assert fill_system_message(text, {"agentName": "Alice"}, end_user=visitor) == filled
