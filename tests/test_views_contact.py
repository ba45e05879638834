"""The contact details column: user details, notes, labels, message templates, deletion."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from conversations.models import Note
from handoffs.models import ConversationDeletion, Handoff
from handoffs.naming import generated_name
from tests.factories import (
    ConversationFactory,
    EndUserFactory,
    HandoffFactory,
    LabelFactory,
    MessageFactory,
    MessageTemplateFactory,
)
from webhooks.models import Event

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}
Status = Handoff.Status


def logged_in(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


@pytest.fixture
def assigned(bot, agent):
    return HandoffFactory(conversation__bot=bot, status=Status.ASSIGNED, agent=agent)


@pytest.fixture
def resolved(bot, agent):
    handoff = HandoffFactory(conversation__bot=bot, status=Status.RESOLVED, agent=agent)
    MessageFactory.create_batch(3, conversation=handoff.conversation)
    return handoff


@pytest.fixture
def deletion_on(settings):
    settings.HITLNEXT_ENABLE_CONVERSATION_DELETION = True


def with_user(bot, variables: dict, status=Status.PENDING, **extra) -> Handoff:
    end_user = EndUserFactory(bot=bot, variables=variables)
    return HandoffFactory(
        conversation=ConversationFactory(bot=bot, end_user=end_user), status=status, **extra
    )


def contact(client: Client, handoff: Handoff) -> str:
    response = client.get(f"/handoffs/{handoff.pk}/contact/", **HTMX)
    assert response.status_code == 200
    return response.content.decode()


def updated_events(handoff: Handoff) -> int:
    return Event.objects.filter(type="handoff.updated", data__handoff__id=handoff.pk).count()


# --- access matrix ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["contact/", "templates/"])
def test_reads_refuse_anonymous_post_and_bad_ids(client, agent, assigned, path):
    url = f"/handoffs/{assigned.pk}/{path}"
    assert client.get(url).status_code == 302
    assert logged_in(agent).post(url).status_code == 405
    assert logged_in(agent).get(f"/handoffs/999999/{path}").status_code == 404


@pytest.mark.parametrize("path", ["notes/", "labels/", "delete/"])
def test_writes_refuse_anonymous_wrong_method_bad_id_and_missing_csrf(
    client, agent, resolved, deletion_on, path
):
    label = LabelFactory(name="billing")
    url = f"/handoffs/{resolved.pk}/{path}"
    data = {"text": "a note", "label": label.name}

    assert client.post(url, data).status_code == 302
    wrong_method = logged_in(agent).put(url) if path == "delete/" else logged_in(agent).get(url)
    assert wrong_method.status_code == 405
    assert logged_in(agent).post(f"/handoffs/999999/{path}", data).status_code == 404
    assert logged_in(agent, enforce_csrf_checks=True).post(url, data).status_code == 403

    assert not Note.objects.exists()
    assert not resolved.labels.exists()
    assert resolved.conversation.messages.count() == 3


@pytest.mark.parametrize("path", ["notes/", "labels/", "delete/"])
def test_an_offline_agent_is_refused_every_write(offline_agent, resolved, deletion_on, path):
    label = LabelFactory(name="billing")

    response = logged_in(offline_agent).post(
        f"/handoffs/{resolved.pk}/{path}", {"text": "a note", "label": label.name}, **HTMX
    )

    assert response.status_code == 403
    assert response["HX-Retarget"] == "#flash"
    assert "Go online to do this." in response.content.decode()
    assert not Note.objects.exists()
    assert not resolved.labels.exists() and updated_events(resolved) == 0
    assert resolved.conversation.messages.count() == 3
    assert not ConversationDeletion.objects.exists()


# --- contact details --------------------------------------------------------------------


def test_details_show_name_email_and_every_variable_flattened(bot, agent):
    handoff = with_user(
        bot,
        {
            "fullName": "Ada Lovelace",
            "email": "ada@example.com",
            "plan": "gold",
            "address": {"city": "London", "geo": {"lat": 51.5}},
            "tags": ["vip", "early"],
            "verified": True,
        },
    )

    html = contact(logged_in(agent), handoff)

    assert 'role="region" aria-label="Contact details"' in html
    assert '<h3 class="contact-name">Ada Lovelace</h3>' in html
    assert '<a href="mailto:ada@example.com">ada@example.com</a>' in html
    lines = re.findall(r"<dt>(.*?)</dt>\s*<dd>(.*?)</dd>", html)
    assert lines == [
        ("address.city", "London"),
        ("address.geo.lat", "51.5"),
        ("email", "ada@example.com"),
        ("fullName", "Ada Lovelace"),
        ("plan", "gold"),
        ("tags", "[&quot;vip&quot;, &quot;early&quot;]"),
        ("verified", "true"),
    ]


def test_long_values_fold_into_details(bot, agent):
    story = "Once upon a time " * 20
    handoff = with_user(bot, {"fullName": "Ada", "story": story})

    html = contact(logged_in(agent), handoff)

    folded = re.search(r"<dt>story</dt>\s*<dd><details><summary>(.*?)</summary>", html)
    assert folded and len(folded.group(1)) <= 60
    assert story.strip() in html  # the whole value, inside the <details>


def test_generated_name_is_the_same_on_every_page_and_for_every_agent(
    settings, bot, agent, second_agent
):
    settings.HITLNEXT_DEFAULT_USERNAME = True
    handoff = with_user(bot, {"plan": "gold"})
    expected = generated_name(bot_id=bot.pk, external_id=handoff.conversation.end_user.external_id)

    first = contact(logged_in(agent), handoff)
    again = logged_in(second_agent).get(f"/handoffs/{handoff.pk}/").content.decode()

    assert f'<h3 class="contact-name">{expected}</h3>' in first
    assert f'<h3 class="contact-name">{expected}</h3>' in again
    assert " " in expected and expected != "Anonymous User"


def test_without_a_name_or_the_setting_the_user_is_anonymous(settings, bot, agent):
    settings.HITLNEXT_DEFAULT_USERNAME = False
    handoff = with_user(bot, {})

    html = contact(logged_in(agent), handoff)

    assert '<h3 class="contact-name" data-msgid="Anonymous User">Anonymous User</h3>' in html
    assert "The bot sent no variables for this user." in html
    assert "mailto:" not in html


def test_markup_in_variables_is_shown_as_text(bot, agent):
    handoff = with_user(
        bot,
        {
            "fullName": "<script>alert(1)</script>",
            "email": '"><img src=x onerror=alert(2)>',
            "bio": "<b>bold</b>",
            "nested": {"<i>key</i>": "x"},
        },
    )

    html = contact(logged_in(agent), handoff)

    for raw in ("<script>alert", "<img src=x", "<b>bold", "<i>key"):
        assert raw not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "nested.&lt;i&gt;key&lt;/i&gt;" in html


@pytest.mark.parametrize(("variables", "notes"), [(2, 1), (40, 30)])
def test_contact_query_count_does_not_grow_with_variables_or_notes(
    bot, agent, resolved, django_assert_num_queries, variables, notes
):
    end_user = resolved.conversation.end_user
    end_user.variables = {f"v{i}": {"deep": i} for i in range(variables)}
    end_user.save()
    LabelFactory.create_batch(3)
    for i in range(notes):
        Note.objects.create(
            conversation=resolved.conversation, handoff=resolved, author=agent, text=f"n{i}"
        )
    client = logged_in(agent)

    # session, user, the handoff (user, bot joined), the labels, the notes (authors joined),
    # the ratings, the last deletion (only looked up once the handoff is over).
    with django_assert_num_queries(7):
        html = contact(client, resolved)

    assert html.count("<dt>") == variables and html.count('class="note"') == notes


# --- notes ------------------------------------------------------------------------------


def test_a_note_is_stored_and_answered_out_of_band(agent, assigned):
    response = logged_in(agent).post(
        f"/handoffs/{assigned.pk}/notes/", {"text": "  Prefers <email>\nafter 6pm "}, **HTMX
    )

    note = Note.objects.get()
    assert (note.conversation, note.handoff, note.author) == (
        assigned.conversation,
        assigned,
        agent,
    )
    assert note.text == "Prefers <email>\nafter 6pm"
    html = response.content.decode()
    assert html.startswith(
        f'<div id="conversation-{assigned.conversation_id}-notes" hx-swap-oob="beforeend">'
    )
    assert f'<li id="note-{note.pk}"' in html
    assert "Prefers &lt;email&gt;<br>after 6pm" in html
    assert ">Alice Martin</span>" in html and f">#{assigned.pk}</a>" in html


def test_a_watcher_may_add_a_note_too(second_agent, assigned):
    response = logged_in(second_agent).post(
        f"/handoffs/{assigned.pk}/notes/", {"text": "Seen this before"}, **HTMX
    )

    assert response.status_code == 200
    assert Note.objects.get().author == second_agent


def test_note_without_htmx_redirects_to_the_panel(agent, assigned):
    response = logged_in(agent).post(f"/handoffs/{assigned.pk}/notes/", {"text": "x"})

    assert (response.status_code, response["Location"]) == (302, f"/handoffs/{assigned.pk}/")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("   ", "Write a note first."),
        ("x" * 10_001, "at most 10,000 characters"),
        ("nul \x00", "cannot be stored"),
    ],
)
def test_empty_or_huge_notes_are_refused(agent, assigned, text, message):
    response = logged_in(agent).post(f"/handoffs/{assigned.pk}/notes/", {"text": text}, **HTMX)

    assert response.status_code == 422
    assert message in response.content.decode()
    assert not Note.objects.exists()


def test_notes_carry_across_the_conversations_handoffs_with_their_handoff_id(
    bot, agent, second_agent
):
    first = HandoffFactory(conversation__bot=bot, status=Status.ASSIGNED, agent=agent)
    logged_in(agent).post(f"/handoffs/{first.pk}/notes/", {"text": "Asked for a refund"}, **HTMX)
    Handoff.objects.filter(pk=first.pk).update(status=Status.RESOLVED)
    second = HandoffFactory(conversation=first.conversation, bot=bot)
    elsewhere = HandoffFactory(conversation__bot=bot)
    Note.objects.create(conversation=elsewhere.conversation, handoff=elsewhere, text="Other")
    logged_in(second_agent).post(f"/handoffs/{second.pk}/notes/", {"text": "Again"}, **HTMX)

    html = logged_in(second_agent).get(f"/handoffs/{second.pk}/", **HTMX).content.decode()

    notes = re.findall(
        r'<span class="note-author">(.*?)</span>.*?>#(\d+)</a>\s*</p>\s*'
        r'<p class="note-body">(.*?)</p>',
        html,
        re.S,
    )
    assert notes == [
        ("Alice Martin", str(first.pk), "Asked for a refund"),
        ("Bob Stone", str(second.pk), "Again"),
    ]
    assert f'id="conversation-{first.conversation_id}-notes"' in html
    assert "Other" not in html


def test_notes_form_is_for_online_agents_and_says_so_otherwise(agent, assigned):
    html = contact(logged_in(agent), assigned)

    assert re.search(r'<form class="note-form needs-online"', html)
    assert ">Add a note</label>" in html
    assert '<p class="hint when-offline">Go online to add a note.</p>' in html


# --- labels -----------------------------------------------------------------------------


def test_changing_labels_emits_exactly_one_handoff_updated(agent, assigned):
    billing, _ = LabelFactory(name="billing"), LabelFactory(name="shipping")
    client = logged_in(agent)

    response = client.post(f"/handoffs/{assigned.pk}/labels/", {"label": ["billing"]}, **HTMX)

    assert response.status_code == 204
    assert list(assigned.labels.all()) == [billing]
    assert updated_events(assigned) == 1
    # The same set again changes nothing and says nothing.
    client.post(f"/handoffs/{assigned.pk}/labels/", {"label": ["billing"]}, **HTMX)
    assert updated_events(assigned) == 1
    # Unticking everything is a change too.
    client.post(f"/handoffs/{assigned.pk}/labels/", {}, **HTMX)
    assert not assigned.labels.exists() and updated_events(assigned) == 2


def test_a_watcher_may_label_and_so_may_anyone_after_the_handoff_ended(
    second_agent, assigned, resolved
):
    LabelFactory(name="billing")
    client = logged_in(second_agent)

    for handoff in (assigned, resolved):
        response = client.post(f"/handoffs/{handoff.pk}/labels/", {"label": "billing"}, **HTMX)
        assert response.status_code == 204
        assert [label.name for label in handoff.labels.all()] == ["billing"]


def test_an_unknown_label_is_refused_and_the_control_put_back(agent, assigned):
    billing = LabelFactory(name="billing")
    assigned.labels.set([billing])

    response = logged_in(agent).post(
        f"/handoffs/{assigned.pk}/labels/", {"label": ["billing", "nope"]}, **HTMX
    )

    html = response.content.decode()
    assert response.status_code == 422
    assert "Unknown label: nope" in html
    assert f'<section id="handoff-{assigned.pk}-labels"' in html and 'hx-swap-oob="true"' in html
    assert 'value="billing" checked' in html
    assert list(assigned.labels.all()) == [billing] and updated_events(assigned) == 0


def test_labels_without_htmx_redirect(agent, assigned):
    LabelFactory(name="billing")

    response = logged_in(agent).post(f"/handoffs/{assigned.pk}/labels/", {"label": "billing"})

    assert response.status_code == 302 and assigned.labels.count() == 1


def test_labels_control_is_one_fieldset_the_page_disables_offline(agent, assigned):
    assigned.labels.set([LabelFactory(name="billing", color="#2563eb")])
    LabelFactory(name="shipping")

    html = contact(logged_in(agent), assigned)

    form = re.search(r'<form class="labels-control".*?</form>', html, re.S).group(0)
    assert '<fieldset class="label-choices" data-needs-online>' in form
    assert '<legend class="contact-section-title" data-msgid="Labels">Labels</legend>' in form
    assert 'value="billing" checked' in form and 'value="shipping">' in form
    assert 'data-color="#2563eb"' in form
    assert html.count(">Labels<") == 1  # one control named "Labels", never a second copy
    assert ">Go online to change the labels.</p>" in html


def test_the_inbox_filters_by_label_and_shows_chips(bot, agent):
    billing = LabelFactory(name="billing", color="#16a34a")
    labelled, other = HandoffFactory(conversation__bot=bot), HandoffFactory(conversation__bot=bot)
    client = logged_in(agent)
    client.post(f"/handoffs/{labelled.pk}/labels/", {"label": "billing"}, **HTMX)

    response = client.get("/inbox/list/", {"f": "1", "status": "unassigned", "label": billing.pk})

    html = response.content.decode()
    assert re.findall(r'<li id="handoff-(\d+)"', html) == [str(labelled.pk)]
    assert '<span class="label-chip" data-color="#16a34a">billing</span>' in html
    assert other.pk


# --- message templates ------------------------------------------------------------------


def test_templates_come_filled_for_this_user_and_agent(bot, agent, assigned):
    assigned.conversation.end_user.variables = {"fullName": "Ada <Lovelace>", "plan": "gold"}
    assigned.conversation.end_user.save()
    MessageTemplateFactory(
        name="greeting", text="Hello {{user.fullName}}, I am {{agent.firstName}}."
    )
    # A variable without a value goes with its sentence (handoffs.templating).
    MessageTemplateFactory(
        name="plan", text="Your plan: {{ user.plan }}. Your code: {{user.missing}}."
    )

    response = logged_in(agent).get(f"/handoffs/{assigned.pk}/templates/")

    assert response["Content-Type"] == "application/json"
    assert "no-store" in response["Cache-Control"]
    templates = response.json()["templates"]
    assert [(t["name"], t["text"]) for t in templates] == [
        ("greeting", "Hello Ada <Lovelace>, I am Alice."),
        ("plan", "Your plan: gold."),
    ]


def test_templates_are_filled_with_the_asking_agent(bot, second_agent, assigned):
    MessageTemplateFactory(name="sign", text="{{agent.name}}")

    templates = logged_in(second_agent).get(f"/handoffs/{assigned.pk}/templates/").json()

    assert templates["templates"][0]["text"] == "Bob Stone"


def test_the_composer_is_wired_to_the_template_picker(settings, agent, assigned):
    html = logged_in(agent).get(f"/handoffs/{assigned.pk}/", **HTMX).content.decode()

    assert f'data-templates-url="/handoffs/{assigned.pk}/templates/"' in html
    assert f'<ul id="template-picker-{assigned.pk}" class="template-picker" role="listbox"' in html
    assert f'aria-autocomplete="list" aria-controls="template-picker-{assigned.pk}"' in html


def test_the_page_carries_the_configured_trigger(settings, agent, assigned):
    settings.HITLNEXT_AUTOCOMPLETE_TRIGGER = "/"

    html = logged_in(agent).get(f"/handoffs/{assigned.pk}/").content.decode()

    assert 'data-template-trigger="/"' in html
    assert "/static/hitlnext/js/contact.js" in html


# --- conversation deletion --------------------------------------------------------------


def test_deletion_is_hidden_and_unreachable_when_turned_off(settings, agent, resolved):
    settings.HITLNEXT_ENABLE_CONVERSATION_DELETION = False
    client = logged_in(agent)

    assert "Delete conversation" not in contact(client, resolved)
    assert client.get(f"/handoffs/{resolved.pk}/delete/", **HTMX).status_code == 404
    assert client.post(f"/handoffs/{resolved.pk}/delete/", **HTMX).status_code == 404
    assert resolved.conversation.messages.count() == 3


def test_deletion_is_offered_only_once_the_handoff_is_over(agent, assigned, resolved, deletion_on):
    client = logged_in(agent)

    assert "Delete conversation" not in contact(client, assigned)
    assert ">Delete conversation</button>" in contact(client, resolved)
    response = client.get(f"/handoffs/{assigned.pk}/delete/", **HTMX)
    assert response.status_code == 409 and "still open" in response.content.decode()
    assert client.post(f"/handoffs/{assigned.pk}/delete/", **HTMX).status_code == 409


def test_deletion_is_refused_while_a_later_handoff_is_active(bot, agent, resolved, deletion_on):
    HandoffFactory(conversation=resolved.conversation, bot=bot)

    response = logged_in(agent).post(f"/handoffs/{resolved.pk}/delete/", **HTMX)

    assert response.status_code == 409
    assert resolved.conversation.messages.count() == 3


def test_deletion_confirms_then_deletes_and_the_panel_shows_the_note(agent, resolved, deletion_on):
    Note.objects.create(conversation=resolved.conversation, handoff=resolved, text="Kept")
    client = logged_in(agent)

    confirm = client.get(f"/handoffs/{resolved.pk}/delete/", **HTMX).content.decode()
    assert confirm.lstrip().startswith(f'<section id="handoff-{resolved.pk}-deletion"')
    assert ">Yes, delete the messages</button>" in confirm and ">Cancel</a>" in confirm
    assert resolved.conversation.messages.count() == 3
    cancel = client.get(f"/handoffs/{resolved.pk}/delete/?cancel=1", **HTMX).content.decode()
    assert ">Delete conversation</button>" in cancel and "Yes, delete" not in cancel

    response = client.post(f"/handoffs/{resolved.pk}/delete/", **HTMX)

    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<div id="conversation"')
    assert not resolved.conversation.messages.exists()
    assert "Alice Martin deleted 3 messages of this conversation." in html
    assert "Kept" in html  # notes stay
    deletion = ConversationDeletion.objects.get()
    assert (deletion.deleted_by, deletion.message_count) == (agent, 3)
    # Later visits still show it.
    assert "deleted 3 messages" in contact(client, resolved)


def test_deletion_confirmation_without_htmx_is_the_whole_page(agent, resolved, deletion_on):
    client = logged_in(agent)

    page = client.get(f"/handoffs/{resolved.pk}/delete/").content.decode()
    assert page.startswith("<!doctype html>")
    assert 'name="csrfmiddlewaretoken"' in page and "Yes, delete the messages" in page

    response = client.post(f"/handoffs/{resolved.pk}/delete/")
    assert (response.status_code, response["Location"]) == (302, f"/handoffs/{resolved.pk}/")
    assert not resolved.conversation.messages.exists()
