"""Attachments both ways: agents attach files (limits, storage, the message.created event's
signed links), files are served with access checks and safe headers, and bots' image and file
payloads show inline, escaped, with http(s) links only."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from django.core.cache import cache
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import StopUpload
from django.test import Client, RequestFactory
from django.utils import timezone

from conversations import attachments
from conversations.models import Attachment, Message
from handoffs.models import Handoff
from tests.api_support import BotApi, message_body
from tests.factories import HandoffFactory
from webhooks.models import Event

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n% a small invoice\n"
HTML = b"<html><body><script>window.__pwned = 1; alert(1)</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


@pytest.fixture(autouse=True)
def attachment_storage(settings, tmp_path):
    """Every test stores into its own folder, with the shipped limits."""
    settings.STORAGES = {
        **settings.STORAGES,
        "attachments": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "attachments"), "base_url": None},
        },
    }
    settings.HITLNEXT_ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024
    settings.HITLNEXT_PUBLIC_URL = "https://hitl.example.com"
    cache.clear()
    yield tmp_path / "attachments"
    cache.clear()


def stored_files(folder) -> list:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def upload(name: str, content: bytes, content_type: str = "application/octet-stream"):
    return SimpleUploadedFile(name, content, content_type=content_type)


@pytest.fixture
def assigned(bot, agent):
    return HandoffFactory(conversation__bot=bot, status=Handoff.Status.ASSIGNED, agent=agent)


def send(client: Client, handoff: Handoff, *, text: str = "", files=(), **extra):
    data: dict = {"text": text}
    if files:
        data["files"] = list(files)
    return client.post(f"/handoffs/{handoff.pk}/send/", data, **(HTMX | extra))


def local_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


# --- Agents attach -------------------------------------------------------------------------


def test_agent_sends_a_picture_and_a_file_with_text(agent, assigned, attachment_storage):
    response = send(
        logged_in(agent),
        assigned,
        text="Here you are",
        files=[upload("parcel.png", PNG, "image/png"), upload("invoice.pdf", PDF)],
    )

    assert response.status_code == 200, response.content
    message = Message.objects.get(direction=Message.Direction.AGENT)
    assert message.text == "Here you are"
    rows = list(message.attachments.all())
    assert [(a.name, a.content_type, a.size) for a in rows] == [
        ("parcel.png", "image/png", len(PNG)),
        ("invoice.pdf", "application/pdf", len(PDF)),
    ]
    assert len(stored_files(attachment_storage)) == 2
    # Stored under random names: nothing the sender chose reaches the storage's paths.
    assert all("parcel" not in a.storage_name and "invoice" not in a.storage_name for a in rows)
    html = response.content.decode()
    assert f'<img src="/attachments/{rows[0].pk}/" alt="parcel.png"' in html
    assert f'href="/attachments/{rows[0].pk}/" target="_blank"' in html  # the larger view
    assert f'href="/attachments/{rows[1].pk}/" download="invoice.pdf">📎 invoice.pdf</a>' in html
    assert f"{len(PDF)} bytes" in html


def test_files_alone_make_a_message(agent, assigned):
    response = send(logged_in(agent), assigned, files=[upload("invoice.pdf", PDF)])

    assert response.status_code == 200
    message = Message.objects.get(direction=Message.Direction.AGENT)
    assert message.text == "" and message.attachments.count() == 1


def test_neither_text_nor_files_is_refused(agent, assigned):
    response = send(logged_in(agent), assigned)

    assert response.status_code == 422
    assert not Message.objects.filter(direction=Message.Direction.AGENT).exists()


def test_a_file_over_the_size_limit_is_refused_naming_it_and_the_limit(
    agent, assigned, settings, attachment_storage
):
    settings.HITLNEXT_ATTACHMENT_MAX_BYTES = 1000

    response = send(
        logged_in(agent), assigned, text="hi", files=[upload("big.pdf", b"%PDF" + b"x" * 2000)]
    )

    assert response.status_code == 422
    assert response["HX-Retarget"] == f"#composer-attach-error-{assigned.pk}"
    text = response.content.decode()
    assert "big.pdf" in text and "too large" in text and "1000 bytes" in text
    assert not Message.objects.filter(direction=Message.Direction.AGENT).exists()
    assert stored_files(attachment_storage) == []


def test_a_type_not_allowed_is_refused_naming_it(agent, assigned, attachment_storage):
    response = send(logged_in(agent), assigned, files=[upload("tool.exe", b"MZ\x90\x00")])

    assert response.status_code == 422
    text = response.content.decode()
    assert "tool.exe" in text and ".exe are not allowed" in text and "pdf" in text
    assert stored_files(attachment_storage) == []


def test_html_and_svg_are_not_allowed_by_default(agent, assigned):
    client = logged_in(agent)
    for name, content in (("page.html", HTML), ("drawing.svg", SVG)):
        assert send(client, assigned, files=[upload(name, content)]).status_code == 422


def test_a_picture_must_be_one_whatever_its_name(agent, assigned, attachment_storage):
    response = send(logged_in(agent), assigned, files=[upload("cat.png", HTML, "image/png")])

    assert response.status_code == 422
    assert "not a valid png image" in response.content.decode()
    assert stored_files(attachment_storage) == []


def test_the_configured_types_decide(agent, assigned, settings):
    settings.HITLNEXT_ATTACHMENT_TYPES = ["application/pdf"]
    client = logged_in(agent)

    assert send(client, assigned, files=[upload("a.pdf", PDF)]).status_code == 200
    assert send(client, assigned, files=[upload("a.png", PNG)]).status_code == 422


def test_the_sender_content_type_is_not_believed(agent, assigned):
    send(logged_in(agent), assigned, files=[upload("notes.txt", b"hello", "text/html")])

    assert Attachment.objects.get().content_type == "text/plain"


def test_an_offline_agent_or_a_watcher_stores_nothing(
    assigned, offline_agent, second_agent, attachment_storage
):
    watcher = send(logged_in(second_agent), assigned, files=[upload("a.pdf", PDF)])
    offline = HandoffFactory(
        conversation__bot=assigned.bot, status=Handoff.Status.ASSIGNED, agent=offline_agent
    )
    refused = send(logged_in(offline_agent), offline, files=[upload("a.pdf", PDF)])

    assert watcher.status_code == 403 and refused.status_code == 403
    assert stored_files(attachment_storage) == []
    assert not Attachment.objects.exists()


def test_the_composer_checks_csrf(agent, assigned):
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)

    response = send(client, assigned, files=[upload("a.pdf", PDF)])

    assert response.status_code == 403
    assert not Attachment.objects.exists()


def test_filenames_are_sanitised_and_shortened():
    assert attachments.clean_filename("../../etc/passwd") == "passwd"
    assert attachments.clean_filename("C:\\Users\\x\\report.pdf") == "report.pdf"
    assert attachments.clean_filename('a\u202egnp.exe"<b>.pdf') == "agnp.exeb.pdf"
    assert attachments.clean_filename("\x00\x01") == "file"
    long = attachments.clean_filename("x" * 500 + ".pdf")
    assert len(long) == attachments.NAME_MAX and long.endswith(".pdf")


def test_the_size_guard_stops_reading_at_the_limit():
    request = RequestFactory().post("/", data=b"", content_type="multipart/form-data")
    guard = attachments.LimitedUploadHandler(request, limit=100)
    guard.new_file("files", "big.pdf", "application/pdf", None)

    assert guard.receive_data_chunk(b"x" * 60, 0) == b"x" * 60
    with pytest.raises(StopUpload):
        guard.receive_data_chunk(b"x" * 60, 60)
    assert "big.pdf" in (guard.refusal() or "")


def test_a_body_announced_too_large_is_refused_before_it_is_read(agent, assigned, settings):
    settings.HITLNEXT_ATTACHMENT_MAX_BYTES = 10
    request = RequestFactory().post("/", data=b"", content_type="multipart/form-data")
    request.META["CONTENT_LENGTH"] = str(10 * 1024 * 1024)

    assert attachments.limit_uploads(request).refusal().startswith("The upload is too large")


# --- The event: signed, expiring links -----------------------------------------------------


def event_attachments(message: Message) -> list[dict]:
    event = Event.objects.get(type="message.created", data__message__id=f"msg_{message.pk}")
    return event.data["message"]["attachments"]


def test_message_created_carries_the_files_with_working_signed_links(agent, assigned):
    send(logged_in(agent), assigned, text="see", files=[upload("invoice.pdf", PDF)])
    message = Message.objects.get(direction=Message.Direction.AGENT)

    [item] = event_attachments(message)

    assert item["name"] == "invoice.pdf" and item["content_type"] == "application/pdf"
    assert item["size"] == len(PDF)
    assert item["url"].startswith("https://hitl.example.com/attachments/")
    response = Client().get(local_path(item["url"]))  # the bot: no session, only the link
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF


def test_the_signed_link_expires(agent, assigned, settings):
    settings.HITLNEXT_ATTACHMENT_URL_TTL = timedelta(hours=24)
    send(logged_in(agent), assigned, files=[upload("invoice.pdf", PDF)])
    url = local_path(event_attachments(Message.objects.get(direction="agent"))[0]["url"])

    with time_machine.travel(timezone.now() + timedelta(hours=23), tick=False):
        assert Client().get(url).status_code == 200
    with time_machine.travel(timezone.now() + timedelta(hours=25), tick=False):
        expired = Client().get(url)
    assert expired.status_code == 404
    assert b"invoice" not in expired.content


def test_the_event_with_files_matches_the_published_document(agent, assigned):
    import json

    from api.endpoints import api as ninja_api
    from tests.test_api_contract import errors_of, validator

    document = json.loads(json.dumps(ninja_api.get_openapi_schema(path_prefix="/api/v1/")))
    send(logged_in(agent), assigned, text="x", files=[upload("a.png", PNG), upload("b.pdf", PDF)])
    event = Event.objects.get(type="message.created").as_payload()

    check = validator(document, "#/components/schemas/Event", strict=True)
    assert errors_of(check, event) == []
    assert len(event["data"]["message"]["attachments"]) == 2


def test_system_messages_carry_no_attachments(api_client_bot):
    api, bot = api_client_bot
    api.post("/handoffs", {"conversation_id": "th-1", "user_id": "u", "channel": "web"})

    for event in Event.objects.filter(type="message.created"):
        assert event.data["message"]["attachments"] == []


@pytest.fixture
def api_client_bot(client, bot):
    return BotApi(client, bot.api_key), bot


# --- Serving: who may open a file, and how it is served --------------------------------------


def make_attachment(handoff: Handoff, name: str, content: bytes, content_type: str) -> Attachment:
    """A stored file, whatever the allow-list says (as if an admin had allowed it once)."""
    storage = storages["attachments"]
    storage_name = storage.save(f"attachments/t/{name}", SimpleUploadedFile(name, content))
    message = Message.objects.create(
        conversation=handoff.conversation, handoff=handoff, direction=Message.Direction.INCOMING
    )
    return Attachment.objects.create(
        message=message,
        storage_name=storage_name,
        name=name,
        content_type=content_type,
        size=len(content),
    )


@pytest.fixture
def png(assigned):
    return make_attachment(assigned, "cat.png", PNG, "image/png")


def test_a_signed_in_agent_opens_any_attachment(second_agent, png):
    response = logged_in(second_agent).get(f"/attachments/{png.pk}/")

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PNG


def test_without_a_session_or_a_link_it_asks_for_a_login(png):
    response = Client().get(f"/attachments/{png.pk}/")

    assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.parametrize("signature", ["nonsense", "1:abc:def", "x" * 300])
def test_a_bad_signature_is_a_plain_404(png, signature):
    response = Client().get(f"/attachments/{png.pk}/", {"s": signature})

    assert response.status_code == 404
    assert b"cat.png" not in response.content


def test_one_attachments_link_opens_no_other_not_another_bots(png, other_bot):
    other = make_attachment(
        HandoffFactory(conversation__bot=other_bot), "secret.pdf", PDF, "application/pdf"
    )
    link = attachments.sign(png.pk)

    assert Client().get(f"/attachments/{png.pk}/", {"s": link}).status_code == 200
    assert Client().get(f"/attachments/{other.pk}/", {"s": link}).status_code == 404


def test_an_unknown_attachment_is_404_even_with_its_ids_signature():
    assert Client().get("/attachments/999999/", {"s": attachments.sign(999999)}).status_code == 404


def test_a_deactivated_agent_has_no_access(agent, png):
    client = logged_in(agent)
    agent.is_active = False
    agent.save()

    assert client.get(f"/attachments/{png.pk}/").status_code == 302


def test_serving_refuses_post(agent, png):
    assert logged_in(agent).post(f"/attachments/{png.pk}/").status_code == 405


def test_a_picture_is_shown_inline_sandboxed(agent, png):
    response = logged_in(agent).get(f"/attachments/{png.pk}/")

    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("inline")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "sandbox; default-src 'none'"


@pytest.mark.parametrize(
    ("name", "content", "stored_type"),
    [
        ("page.html", HTML, "text/html"),
        ("drawing.svg", SVG, "image/svg+xml"),
        ("data.xml", b"<x/>", "application/xml"),
        ("app.js", b"alert(1)", "text/javascript"),
        # A stored type that lies: the name says what a browser would make of it.
        ("page.html", HTML, "image/png"),
        ("innocent.pdf", HTML, "text/html"),
    ],
)
def test_markup_and_scripts_are_always_a_sandboxed_download(
    agent, assigned, name, content, stored_type
):
    attachment = make_attachment(assigned, name, content, stored_type)

    response = logged_in(agent).get(f"/attachments/{attachment.pk}/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "sandbox; default-src 'none'"


def test_other_files_download_with_their_type(agent, assigned):
    attachment = make_attachment(assigned, "invoice.pdf", PDF, "application/pdf")

    response = logged_in(agent).get(f"/attachments/{attachment.pk}/")

    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="invoice.pdf"'


# --- What bots relay: image and file payloads ------------------------------------------------


def panel_html(agent, handoff_id: int) -> str:
    return logged_in(agent).get(f"/handoffs/{handoff_id}/", **HTMX).content.decode()


def relay_payloads(bot, client, payloads: list[dict]) -> int:
    api = BotApi(client, bot.api_key)
    handoff = api.post("/handoffs", {"conversation_id": "th-42", "user_id": "u", "channel": "web"})
    for n, payload in enumerate(payloads):
        response = api.post("/messages", message_body(id=f"p{n}", text="", payload=payload))
        assert response.status_code == 201, response.content
    return handoff.json()["id"]


def test_a_bots_image_and_file_show_inline(bot, agent, client):
    handoff_id = relay_payloads(
        bot,
        client,
        [
            {"type": "image", "url": "https://cdn.example.com/p.jpg", "name": "parcel.jpg"},
            {
                "type": "file",
                "url": "https://cdn.example.com/i.pdf",
                "name": "invoice.pdf",
                "content_type": "application/pdf",
                "size": 2048,
            },
        ],
    )

    html = panel_html(agent, handoff_id)

    assert '<img src="https://cdn.example.com/p.jpg" alt="parcel.jpg"' in html
    assert 'href="https://cdn.example.com/i.pdf" target="_blank" rel="noopener noreferrer"' in html
    assert "📎 invoice.pdf" in html and "2.0 KB" in html


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "vbscript:x",
        "//evil.example.com/x.png",
        "/attachments/1/",
        "https:///nohost",
    ],
)
def test_a_payload_address_that_is_not_http_is_never_linked(bot, agent, client, url):
    handoff_id = relay_payloads(
        bot,
        client,
        [{"type": "image", "url": url, "name": "a.png"}, {"type": "file", "url": url, "name": "f"}],
    )

    html = panel_html(agent, handoff_id)

    assert "📎 a.png" in html and "📎 f" in html  # named, not linked
    assert url.strip() not in html.replace("&amp;", "&")
    assert "javascript:" not in html.lower() and "data:text" not in html


def test_a_plain_http_image_is_a_link_not_a_picture(bot, agent, client):
    handoff_id = relay_payloads(
        bot, client, [{"type": "image", "url": "http://cdn.example.com/p.jpg", "name": "p.jpg"}]
    )

    html = panel_html(agent, handoff_id)

    assert '<img src="http://' not in html
    assert 'href="http://cdn.example.com/p.jpg"' in html


def test_payload_names_and_addresses_are_escaped(bot, agent, client):
    handoff_id = relay_payloads(
        bot,
        client,
        [
            {
                "type": "file",
                "url": 'https://x.example.com/a"onmouseover="alert(1)',
                "name": "<img src=x onerror=alert(1)>.pdf",
            }
        ],
    )

    html = panel_html(agent, handoff_id)

    assert "<img src=x" not in html
    assert '"onmouseover="' not in html
    assert "&quot;onmouseover=&quot;" in html


def test_a_bot_cannot_claim_stored_files_in_its_payload(bot, agent, client, png):
    handoff_id = relay_payloads(
        bot,
        client,
        [{"type": "note", attachments.ATTACHMENTS_KEY: [{"id": png.pk, "name": "forged.png"}]}],
    )

    message = Message.objects.get(external_id="p0")
    assert attachments.ATTACHMENTS_KEY not in message.payload
    assert "forged.png" not in panel_html(agent, handoff_id)


def test_history_images_show_too_and_cannot_claim_files(bot, agent, client, png):
    api = BotApi(client, bot.api_key)
    handoff = api.post(
        "/handoffs",
        {
            "conversation_id": "th-9",
            "user_id": "u",
            "channel": "web",
            "history": [
                {
                    "id": "h1",
                    "direction": "incoming",
                    "payload": {"type": "image", "url": "https://x.example.com/h.png"},
                },
                {
                    "id": "h2",
                    "direction": "incoming",
                    "payload": {attachments.ATTACHMENTS_KEY: [{"id": png.pk, "name": "forged"}]},
                },
            ],
        },
    ).json()

    html = panel_html(agent, handoff["id"])

    assert '<img src="https://x.example.com/h.png"' in html
    assert "forged" not in html


def test_the_inbox_preview_names_an_attachment_only_message(bot, client):
    relay_payloads(
        bot, client, [{"type": "file", "url": "https://x.example.com/i.pdf", "name": "invoice.pdf"}]
    )

    assert Handoff.objects.get().last_user_message == "📎 invoice.pdf"


def test_a_message_with_files_renders_without_extra_queries(
    agent, assigned, django_assert_num_queries
):
    from handoffs.live import render_messages_push

    send(logged_in(agent), assigned, files=[upload("a.png", PNG), upload("b.pdf", PDF)])
    message = Message.objects.select_related("conversation__end_user", "author").get(
        direction="agent"
    )

    with django_assert_num_queries(0):
        html = render_messages_push([message], conversation=message.conversation)
    assert len(re.findall(r'class="media-item', html)) == 2


# --- Files leave with their messages ---------------------------------------------------------


def resolved_with_a_file(agent, assigned) -> Handoff:
    from handoffs.services import resolve_handoff

    send(logged_in(agent), assigned, files=[upload("invoice.pdf", PDF)])
    return resolve_handoff(handoff=assigned, agent=agent)


@pytest.mark.django_db(transaction=True)
def test_deleting_a_conversations_messages_deletes_its_files(
    agent, assigned, settings, attachment_storage
):
    from handoffs.erasure import delete_conversation_messages

    settings.HITLNEXT_ENABLE_CONVERSATION_DELETION = True
    handoff = resolved_with_a_file(agent, assigned)
    messages = handoff.conversation.messages.count()
    assert len(stored_files(attachment_storage)) == 1

    deletion = delete_conversation_messages(conversation=handoff.conversation, agent=agent)

    assert deletion.message_count == messages  # messages, not their attachments' rows
    assert not Attachment.objects.exists()
    assert stored_files(attachment_storage) == []


@pytest.mark.django_db(transaction=True)
def test_the_retention_purge_deletes_files_and_counts_only_messages(
    agent, assigned, attachment_storage
):
    from handoffs.retention import plan_purge, purge_messages

    handoff = resolved_with_a_file(agent, assigned)
    messages = handoff.conversation.messages.count()

    with time_machine.travel(timezone.now() + timedelta(days=40), tick=False):
        deleted = purge_messages(plan=plan_purge(days=30))

    assert deleted == messages
    assert not Attachment.objects.exists()
    assert stored_files(attachment_storage) == []


def test_the_composer_refuses_a_body_announced_too_large_unread(agent, assigned, settings):
    settings.HITLNEXT_ATTACHMENT_MAX_BYTES = 100

    response = send(
        logged_in(agent), assigned, files=[upload("a.pdf", PDF)], CONTENT_LENGTH=str(10**9)
    )

    assert response.status_code == 422
    assert response.content.decode().startswith("The upload is too large")
    assert not Attachment.objects.exists()


def test_the_python_client_reads_the_events_files(agent, assigned):
    import json

    import hitlnext_client as hc

    send(logged_in(agent), assigned, text="x", files=[upload("invoice.pdf", PDF)])
    payload = Event.objects.get(type="message.created").as_payload()

    message = hc.event_from_json(json.dumps(payload)).message

    assert message is not None
    [item] = message.attachments
    assert (item.name, item.content_type, item.size) == ("invoice.pdf", "application/pdf", len(PDF))
    assert item.url.startswith("https://hitl.example.com/attachments/")


def test_at_most_five_files_go_with_one_message(agent, assigned, attachment_storage):
    files = [upload(f"f{n}.pdf", PDF) for n in range(attachments.MAX_FILES_PER_MESSAGE + 1)]

    response = send(logged_in(agent), assigned, files=files)

    assert response.status_code == 422
    assert "at most 5 files" in response.content.decode()
    assert stored_files(attachment_storage) == []
