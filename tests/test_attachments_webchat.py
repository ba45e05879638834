"""The web chat visitor attaches files (same limits as agents, the web chat's budgets before
any database work, a signed token rather than the cookie) and sees files both ways through
signed links."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from conversations.models import Attachment, Message
from handoffs.models import Handoff
from handoffs.services import assign_handoff
from tests.test_attachments import HTML, PDF, PNG, send, stored_files
from tests.test_views_conversation import logged_in
from webchat import services as webchat
from webchat import visitors

pytestmark = pytest.mark.django_db
VISITOR = "visitor-aaaaaaaaaaaaaaaa"


@pytest.fixture(autouse=True)
def attachment_storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "attachments": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "attachments"), "base_url": None},
        },
    }
    settings.HITLNEXT_ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024
    settings.HITLNEXT_WEBCHAT_MESSAGES_PER_IP = (60, 60)
    settings.HITLNEXT_WEBCHAT_MESSAGES = (3000, 60)
    cache.clear()
    yield tmp_path / "attachments"
    cache.clear()


def attach(client: Client, name: str, content: bytes, *, visitor_id: str = VISITOR, token=None):
    if token is None:
        token = visitors.visitor_token(visitor_id)
    return client.post(
        f"/chat/attach/?t={quote(token)}",
        {"file": SimpleUploadedFile(name, content)},
        HTTP_HX_REQUEST="true",
    )


def test_the_visitor_sends_a_file_as_their_message(client, attachment_storage):
    response = attach(client, "receipt.pdf", PDF)

    assert response.status_code == 200
    assert 'id="webchat-notice"' in response.content.decode()
    message = webchat.find_conversation(VISITOR).messages.get(direction="incoming")
    assert message.text == ""
    [row] = message.attachments.all()
    assert (row.name, row.content_type, row.size) == ("receipt.pdf", "application/pdf", len(PDF))
    assert len(stored_files(attachment_storage)) == 1


def test_the_chat_page_offers_attach_and_shows_files_with_signed_links(client):
    page = client.get("/chat/").content.decode()
    assert ">Attach</button>" in page
    visitor_id = visitors.visitor_from_cookie(client.cookies[visitors.COOKIE_NAME].value)
    attach(client, "cat.png", PNG, visitor_id=visitor_id)
    row = Attachment.objects.get()

    page = client.get("/chat/").content.decode()

    assert f'<img src="/attachments/{row.pk}/?s=' in page
    link = page.split(f'src="/attachments/{row.pk}/?s=')[1].split('"')[0]
    # The visitor has no session: the signed link alone opens it.
    anonymous = Client().get(f"/attachments/{row.pk}/", {"s": link.replace("%3A", ":")})
    assert anonymous.status_code == 200


def test_the_visitor_sees_the_agents_files(client, bot, agent):
    webchat.post_visitor_message(visitor_id=VISITOR, text="hello")
    handoff, _ = webchat.request_person(visitor_id=VISITOR)
    assign_handoff(handoff=handoff, agent=agent)
    send(
        logged_in(agent),
        Handoff.objects.get(pk=handoff.pk),
        files=[SimpleUploadedFile("guide.pdf", PDF)],
    )
    row = Attachment.objects.get()

    from webchat.live import render_catch_up

    html = render_catch_up(VISITOR)

    assert f'href="/attachments/{row.pk}/?s=' in html and "📎 guide.pdf" in html


def test_the_agent_sees_the_visitors_file_and_the_inbox_names_it(client, agent):
    webchat.post_visitor_message(visitor_id=VISITOR, text="hello")
    handoff, _ = webchat.request_person(visitor_id=VISITOR)
    attach(client, "invoice.pdf", PDF)
    row = Attachment.objects.get()

    html = logged_in(agent).get(f"/handoffs/{handoff.pk}/", HTTP_HX_REQUEST="true").content
    assert f'href="/attachments/{row.pk}/" download="invoice.pdf"'.encode() in html
    assert Handoff.objects.get(pk=handoff.pk).last_user_message == "📎 invoice.pdf"


def test_the_cookie_alone_cannot_upload(client):
    client.get("/chat/")  # the visitor cookie, as a forged cross-site form would send it

    response = client.post("/chat/attach/", {"file": SimpleUploadedFile("a.pdf", PDF)})

    assert response.status_code == 403
    assert not Attachment.objects.exists()


@pytest.mark.parametrize("token", ["", "forged", visitors.visitor_token(VISITOR) + "x"])
def test_a_missing_or_forged_token_is_refused(client, token):
    response = client.post(
        f"/chat/attach/?t={quote(token)}", {"file": SimpleUploadedFile("a.pdf", PDF)}
    )

    assert response.status_code == 403
    assert not Message.objects.exists()


def test_the_same_size_and_type_limits_apply(client, settings, attachment_storage):
    settings.HITLNEXT_ATTACHMENT_MAX_BYTES = 100

    too_big = attach(client, "big.pdf", b"%PDF" + b"x" * 500)
    wrong = attach(client, "page.html", HTML)
    fake = attach(client, "cat.png", HTML)

    assert (too_big.status_code, wrong.status_code, fake.status_code) == (422, 422, 422)
    assert "too large" in too_big.content.decode()
    assert ".html are not allowed" in wrong.content.decode()
    assert "not a valid png image" in fake.content.decode()
    assert not Message.objects.exists()
    assert stored_files(attachment_storage) == []


def test_no_file_is_a_422(client):
    response = client.post(
        f"/chat/attach/?t={quote(visitors.visitor_token(VISITOR))}", {}, HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 422


def test_the_address_budget_refuses_before_any_database_work(
    client, settings, django_assert_num_queries, attachment_storage
):
    settings.HITLNEXT_WEBCHAT_MESSAGES_PER_IP = (1, 60)
    assert attach(client, "a.pdf", PDF).status_code == 200

    with django_assert_num_queries(0):
        refused = attach(client, "b.pdf", PDF, visitor_id="visitor-bbbbbbbbbbbbbbbb")

    assert refused.status_code == 429
    assert "too quickly" in refused.content.decode()
    assert len(stored_files(attachment_storage)) == 1


def test_the_overall_budget_applies_too(client, settings):
    settings.HITLNEXT_WEBCHAT_MESSAGES = (1, 60)
    assert attach(client, "a.pdf", PDF).status_code == 200

    other = Client(REMOTE_ADDR="10.9.9.9")
    assert attach(other, "b.pdf", PDF, visitor_id="visitor-bbbbbbbbbbbbbbbb").status_code == 429


def test_the_per_visitor_database_count_holds_when_the_cache_lets_through(
    client, settings, attachment_storage
):
    settings.HITLNEXT_WEBCHAT_MESSAGES_PER_IP = (0, 60)  # 0 disables the cache budgets
    settings.HITLNEXT_WEBCHAT_MESSAGES = (0, 60)
    for n in range(webchat.RATE_LIMIT):
        webchat.post_visitor_message(visitor_id=VISITOR, text=f"m{n}")
    cache.clear()  # as if the cache were down: only the database count remains

    response = attach(client, "a.pdf", PDF)

    assert response.status_code == 422 and "too quickly" in response.content.decode()
    assert not Attachment.objects.exists()
    assert stored_files(attachment_storage) == []  # stored, then removed with the refusal


def test_a_body_announced_too_large_is_refused_unread(client, settings):
    settings.HITLNEXT_ATTACHMENT_MAX_BYTES = 100
    token = quote(visitors.visitor_token(VISITOR))

    response = client.post(
        f"/chat/attach/?t={token}",
        {"file": SimpleUploadedFile("a.pdf", PDF)},
        CONTENT_LENGTH=str(10**9),
    )

    assert response.status_code == 422 and "too large" in response.content.decode()
    assert not Message.objects.exists()
