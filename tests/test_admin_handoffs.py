from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from agents.models import AgentProfile
from handoffs.models import ConversationDeletion, Handoff, Label, SystemMessage
from tests.factories import (
    ConversationFactory,
    EndUserFactory,
    HandoffFactory,
    LabelFactory,
    UserFactory,
)
from webhooks.models import Event

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(db):
    user = UserFactory(username="root", is_staff=True, is_superuser=True)
    return user


@pytest.fixture
def admin_client(superuser) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


@pytest.fixture
def handoff(bot):
    user = EndUserFactory(bot=bot, external_id="u-77", variables={"fullName": "Grace Hopper"})
    conversation = ConversationFactory(bot=bot, end_user=user, external_id="th-77")
    return HandoffFactory(conversation=conversation)


def handoff_events(bot, type):
    return Event.objects.filter(bot=bot, type=type).count()


def test_superuser_opens_every_changelist_and_add_page(admin_client, superuser, handoff, rf):
    # Some data so list columns are rendered, not just the empty state.
    LabelFactory(name="billing")
    ConversationDeletion.objects.create(
        conversation_ref="th-1", bot_name="Acme bot", deleted_by=superuser, message_count=2
    )
    failures = []
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        response = admin_client.get(changelist)
        if response.status_code != 200:
            failures.append((changelist, response.status_code))
        request = rf.get("/")
        request.user = superuser
        add = reverse(f"admin:{opts.app_label}_{opts.model_name}_add")
        expected = 200 if model_admin.has_add_permission(request) else 403
        response = admin_client.get(add)
        if response.status_code != expected:
            failures.append((add, response.status_code))
    assert failures == []
    assert Handoff in admin.site._registry
    assert len(admin.site._registry) >= 7


def test_non_staff_agent_cannot_reach_the_admin(agent):
    client = Client()
    client.force_login(agent)

    for url in ["/admin/", reverse("admin:handoffs_handoff_changelist")]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


def test_handoff_change_page_shows_the_handoff_read_only(admin_client, handoff):
    response = admin_client.get(reverse("admin:handoffs_handoff_change", args=[handoff.pk]))

    assert response.status_code == 200
    body = response.content.decode()
    assert "Grace Hopper" in body
    assert 'name="status"' not in body  # the state machine owns it
    assert 'name="labels"' in body


def test_handoff_changelist_search_filters_and_query_count(
    admin_client, bot, handoff, django_assert_num_queries
):
    label = LabelFactory(name="vip")
    handoff.labels.add(label)
    for _ in range(5):
        HandoffFactory(conversation=ConversationFactory(bot=bot)).labels.add(label)
    url = reverse("admin:handoffs_handoff_changelist")

    # Constant whatever the number of rows: users, bots, agents and labels are joined or
    # prefetched (session, user, count, page, labels prefetch, filter choices...).
    with django_assert_num_queries(11):
        response = admin_client.get(url)
    assert response.status_code == 200

    for term in [f"#{handoff.pk}", " th-77", "u-77", "grace", "GRACE hopper"]:
        response = admin_client.get(url, {"q": term})
        assert list(response.context["cl"].result_list) == [handoff], term
    # A bare number also matches ids containing it, like any other search term.
    response = admin_client.get(url, {"q": str(handoff.pk)})
    assert handoff in response.context["cl"].result_list
    response = admin_client.get(url, {"status__exact": "resolved"})
    assert list(response.context["cl"].result_list) == []
    response = admin_client.get(url, {"labels__id__exact": label.pk})
    assert len(response.context["cl"].result_list) == 6


def test_editing_labels_in_the_admin_goes_through_the_service(admin_client, bot, handoff):
    vip = LabelFactory(name="vip")
    url = reverse("admin:handoffs_handoff_change", args=[handoff.pk])

    response = admin_client.post(url, {"labels": [vip.pk]})
    assert response.status_code == 302
    admin_client.post(url, {"labels": [vip.pk]})  # unchanged: no second event

    assert list(handoff.labels.values_list("name", flat=True)) == ["vip"]
    assert handoff_events(bot, "handoff.updated") == 1
    event = Event.objects.get(bot=bot, type="handoff.updated")
    assert event.data["handoff"]["labels"] == ["vip"]


def test_a_posted_status_is_ignored_the_state_machine_owns_it(admin_client, handoff):
    url = reverse("admin:handoffs_handoff_change", args=[handoff.pk])
    admin_client.get(url)
    # The bot rejects it while the admin has the page open.
    Handoff.objects.filter(pk=handoff.pk).update(status=Handoff.Status.REJECTED)

    admin_client.post(url, {"labels": [], "status": "pending"})

    handoff.refresh_from_db()
    assert handoff.status == Handoff.Status.REJECTED


def test_reject_action_calls_the_service(admin_client, bot, handoff):
    done = HandoffFactory(conversation=ConversationFactory(bot=bot), status="resolved")
    url = reverse("admin:handoffs_handoff_changelist")

    response = admin_client.post(
        url,
        {"action": "reject_selected", "_selected_action": [handoff.pk, done.pk]},
        follow=True,
    )

    handoff.refresh_from_db()
    done.refresh_from_db()
    assert handoff.status == Handoff.Status.REJECTED
    assert done.status == Handoff.Status.RESOLVED
    assert handoff_events(bot, "handoff.rejected") == 1
    texts = [str(m) for m in response.context["messages"]]
    assert "Rejected 1 handoff." in texts
    assert f"Not rejected (already finished): #{done.pk}." in texts


def test_handoffs_cannot_be_added_or_deleted_in_the_admin(admin_client, handoff):
    assert admin_client.get(reverse("admin:handoffs_handoff_add")).status_code == 403
    delete = reverse("admin:handoffs_handoff_delete", args=[handoff.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert Handoff.objects.filter(pk=handoff.pk).exists()


def test_renaming_and_deleting_a_label_report_to_the_bot(admin_client, bot, handoff):
    label = LabelFactory(name="vip")
    handoff.labels.add(label)
    LabelFactory(name="unused")
    change = reverse("admin:handoffs_label_change", args=[label.pk])

    admin_client.post(change, {"name": "gold", "color": "#000000"})
    admin_client.post(change, {"name": "gold", "color": "#ffffff"})  # colour only: no event

    assert handoff_events(bot, "handoff.updated") == 1
    assert Event.objects.get(type="handoff.updated").data["handoff"]["labels"] == ["gold"]
    assert Label.objects.get(pk=label.pk).color == "#ffffff"

    delete = reverse("admin:handoffs_label_delete", args=[label.pk])
    admin_client.post(delete, {"post": "yes"})

    assert not Label.objects.filter(pk=label.pk).exists()
    assert handoff_events(bot, "handoff.updated") == 2
    assert Event.objects.filter(type="handoff.updated").last().data["handoff"]["labels"] == []


def test_label_can_be_created_in_the_admin(admin_client):
    response = admin_client.post(
        reverse("admin:handoffs_label_add"), {"name": "urgent", "color": "#dc2626"}
    )

    assert response.status_code == 302
    assert Label.objects.get(name="urgent").color == "#dc2626"


def test_system_message_form_explains_agent_name(admin_client):
    message = SystemMessage.objects.get(kind="assign", language="en")

    response = admin_client.get(reverse("admin:handoffs_systemmessage_change", args=[message.pk]))

    assert "{{agentName}}" in response.content.decode()


def test_conversation_deletions_are_read_only(admin_client, superuser):
    row = ConversationDeletion.objects.create(
        conversation_ref="th-1", bot_name="Acme bot", deleted_by=superuser, message_count=2
    )
    change = reverse("admin:handoffs_conversationdeletion_change", args=[row.pk])

    assert admin_client.get(change).status_code == 200  # view only
    admin_client.post(change, {"message_count": 0})
    delete = reverse("admin:handoffs_conversationdeletion_delete", args=[row.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    row.refresh_from_db()
    assert row.message_count == 2


def test_agent_list_shows_presence_and_set_offline_action_uses_the_service(
    admin_client, agent, offline_agent
):
    url = reverse("admin:auth_user_changelist")

    response = admin_client.get(url, {"agent_profile__online__exact": "1"})
    assert [u.username for u in response.context["cl"].result_list] == ["alice"]

    admin_client.post(url, {"action": "set_offline", "_selected_action": [agent.pk]})

    profile = AgentProfile.objects.get(user=agent)
    assert not profile.online
    assert profile.session_expires_at is None


def test_agent_change_page_has_the_profile_inline(admin_client, agent):
    response = admin_client.get(reverse("admin:auth_user_change", args=[agent.pk]))

    body = response.content.decode()
    assert response.status_code == 200
    assert "agent_profile-0-avatar" in body
    assert 'name="agent_profile-0-online"' not in body  # presence is read-only


def test_adding_an_agent_in_the_admin_creates_the_profile(admin_client):
    response = admin_client.post(
        reverse("admin:auth_user_add"),
        {
            "username": "dora",
            "password1": "a-long-enough-password-42",
            "password2": "a-long-enough-password-42",
            "usable_password": "true",
        },
    )

    assert response.status_code == 302
    assert AgentProfile.objects.filter(user__username="dora", online=False).exists()
