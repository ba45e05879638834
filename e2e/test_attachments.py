"""Attachments in a real browser: an agent attaches a picture and a file, a web chat visitor
attaches one and the agent sees it live (and the visitor the agent's), and files a visitor
could use as weapons (HTML, SVG with script, markup dressed as a picture) never run in the
agent's origin, clicked from the page or opened directly."""

from __future__ import annotations

import struct
import zlib

import pytest
from playwright.sync_api import Browser, Error, Page, expect

from e2e.test_webchat import PHONE, visitor_says
from e2e.test_workspace import agent_page, open_handoff, start_handoff

pytestmark = pytest.mark.django_db(transaction=True)

PDF = b"%PDF-1.4\n% a small invoice\n"
SCRIPT = "window.__pwned = 1; document.title = 'pwned'; alert('pwned')"
EVIL_HTML = f"<html><body><h1>hi</h1><script>{SCRIPT}</script></body></html>".encode()
EVIL_SVG = (
    f'<svg xmlns="http://www.w3.org/2000/svg" onload="{SCRIPT}"><script>{SCRIPT}</script>'
    '<rect width="10" height="10"/></svg>'
).encode()


def png(width: int = 4, height: int = 3) -> bytes:
    """A real PNG, so the browser has a picture to show."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def choose_files(page: Page, scope, files: list[dict]) -> None:
    with page.expect_file_chooser() as chooser:
        scope.get_by_role("button", name="Attach", exact=True).click()
    chooser.value.set_files(files)


def watch_dialogs(page: Page) -> list[str]:
    dialogs: list[str] = []

    def seen(dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", seen)
    return dialogs


def image_loaded(image) -> bool:
    return image.evaluate("img => img.complete && img.naturalWidth > 0")


def test_agent_attaches_a_picture_and_a_file(browser: Browser, live_server_url, api, agent):
    page = agent_page(browser, live_server_url, agent.username)
    start_handoff(api, 1, "Ada Lovelace")
    messages = open_handoff(page, "Ada Lovelace")
    messages.get_by_role("button", name="Assign to me").click()
    expect(messages.get_by_role("button", name="Attach", exact=True)).to_be_visible()

    choose_files(
        page,
        messages,
        [
            {"name": "parcel.png", "mimeType": "image/png", "buffer": png()},
            {"name": "invoice.pdf", "mimeType": "application/pdf", "buffer": PDF},
        ],
    )
    chosen = messages.get_by_role("list", name="Files to send")
    expect(chosen).to_contain_text("parcel.png")
    expect(chosen).to_contain_text("invoice.pdf")
    messages.get_by_role("textbox", name="Message").fill("Here is the label and the invoice.")
    messages.get_by_role("button", name="Send").click()

    sent = messages.get_by_role("article").filter(has_text="Here is the label")
    picture = sent.get_by_role("img", name="parcel.png")
    expect(picture).to_be_visible()
    page.wait_for_function(
        "() => [...document.querySelectorAll('img[alt=\"parcel.png\"]')]"
        ".every(i => i.complete && i.naturalWidth === 4)"
    )
    expect(sent.get_by_role("link", name="📎 invoice.pdf")).to_be_visible()
    expect(sent).to_contain_text(f"{len(PDF)} bytes")
    expect(chosen).to_be_hidden()  # cleared once sent
    with page.expect_download() as download:
        sent.get_by_role("link", name="📎 invoice.pdf").click()
    assert download.value.suggested_filename == "invoice.pdf"
    # The larger view: the link around the thumbnail opens the full picture.
    with page.expect_popup() as popup:
        sent.get_by_role("link", name="parcel.png").click()
    popup.value.wait_for_load_state()
    assert popup.value.evaluate("document.images.length && document.images[0].naturalWidth") == 4

    # A file of a kind not allowed: the composer says which and why; nothing is sent.
    choose_files(
        page,
        messages,
        [{"name": "tool.exe", "mimeType": "application/x-msdownload", "buffer": b"MZ"}],
    )
    messages.get_by_role("button", name="Send").click()
    expect(messages.get_by_role("alert")).to_contain_text("“tool.exe” cannot be sent")
    expect(messages.get_by_role("article").filter(has_text="tool.exe")).to_have_count(0)


def open_handoff_by_text(page: Page, text: str):
    page.get_by_role("region", name="Handoffs").get_by_role("link").filter(has_text=text).click()
    return page.get_by_role("region", name="Messages")


def test_visitor_attaches_and_the_agent_sees_it_live_and_back(
    browser: Browser, live_server_url, agent
):
    visitor_context = browser.new_context(**PHONE)
    visitor = visitor_context.new_page()
    inbox = agent_page(browser, live_server_url, agent.username)
    visitor.goto(f"{live_server_url}/chat/")
    visitor_says(visitor, "My parcel is damaged")
    visitor.get_by_role("button", name="Talk to a person").click()
    expect(visitor.get_by_text("Waiting for a person to join")).to_be_visible()
    messages = open_handoff_by_text(inbox, "My parcel is damaged")
    expect(messages.get_by_text("My parcel is damaged")).to_be_visible()
    messages.get_by_role("button", name="Assign to me").click()
    expect(visitor.get_by_text("You are talking with")).to_be_visible()
    visitor_log = visitor.get_by_role("region", name="Conversation")

    # Visitor -> agent, live.
    choose_files(
        visitor, visitor, [{"name": "damage.png", "mimeType": "image/png", "buffer": png()}]
    )
    expect(visitor_log.get_by_role("img", name="damage.png")).to_be_visible()
    agent_picture = messages.get_by_role("img", name="damage.png")
    expect(agent_picture).to_be_visible()
    inbox.wait_for_function(
        "() => { const i = document.querySelector('img[alt=\"damage.png\"]');"
        " return i && i.complete && i.naturalWidth === 4; }"
    )

    # Agent -> visitor: the visitor opens it through its signed link (no session).
    choose_files(
        inbox, messages, [{"name": "returns.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    messages.get_by_role("button", name="Send").click()
    link = visitor_log.get_by_role("link", name="📎 returns.pdf")
    expect(link).to_be_visible()
    assert "?s=" in (link.get_attribute("href") or "")
    with visitor.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == "returns.pdf"

    # The same limits for the visitor: a kind not allowed is refused with a notice.
    choose_files(
        visitor, visitor, [{"name": "page.html", "mimeType": "text/html", "buffer": EVIL_HTML}]
    )
    expect(visitor.locator("#webchat-notice")).to_contain_text(".html are not allowed")
    expect(visitor_log.get_by_text("page.html")).to_have_count(0)
    visitor_context.close()


def test_a_visitors_malicious_files_never_run_in_the_agents_origin(
    browser: Browser, live_server_url, agent, settings
):
    from django.core.files.base import ContentFile
    from django.core.files.storage import storages
    from django.core.files.uploadedfile import SimpleUploadedFile

    from conversations.attachments import store_uploads
    from conversations.models import Attachment, Message
    from handoffs.models import Handoff
    from webchat import services as webchat
    from webchat import visitors

    visitor_context = browser.new_context(**PHONE)
    visitor = visitor_context.new_page()
    visitor.goto(f"{live_server_url}/chat/")
    visitor_says(visitor, "Look at these files")
    visitor.get_by_role("button", name="Talk to a person").click()
    expect(visitor.get_by_text("Waiting for a person to join")).to_be_visible()
    cookie = {c["name"]: c["value"] for c in visitor_context.cookies()}[visitors.COOKIE_NAME]
    visitor_id = visitors.visitor_from_cookie(cookie)
    # Even with a site that allows HTML and SVG (the default does not), and with markup in a
    # file claiming to be a picture (stored as one behind the checks' back), nothing runs.
    settings.HITLNEXT_ATTACHMENT_TYPES = [".html", ".svg"]
    webchat.post_visitor_message(
        visitor_id=visitor_id,
        text="",
        files=store_uploads(
            [
                SimpleUploadedFile("evil.html", EVIL_HTML, "text/html"),
                SimpleUploadedFile("evil.svg", EVIL_SVG, "image/svg+xml"),
            ]
        ),
    )
    disguised = Attachment.objects.create(
        message=Message.objects.filter(direction="incoming").last(),
        storage_name=storages["attachments"].save("attachments/e2e/evil", ContentFile(EVIL_HTML)),
        name="evil.png",
        content_type="image/png",
        size=len(EVIL_HTML),
    )

    page = agent_page(browser, live_server_url, agent.username)
    dialogs = watch_dialogs(page)
    handoff = Handoff.objects.get(conversation__external_id=f"web-{visitor_id}")
    page.goto(f"{live_server_url}/handoffs/{handoff.pk}/")
    messages = page.get_by_role("region", name="Messages")
    urls = {}
    for name in ("evil.html", "evil.svg"):
        link = messages.get_by_role("link", name=f"📎 {name}")
        expect(link).to_be_visible()
        urls[name] = live_server_url + link.get_attribute("href")
        with page.expect_download() as download:
            link.click()
        assert download.value.suggested_filename == name
    urls["evil.png"] = f"{live_server_url}/attachments/{disguised.pk}/"
    page.wait_for_timeout(300)
    assert dialogs == []
    assert page.evaluate("window.__pwned") is None
    assert page.title() != "pwned"

    for name, url in urls.items():
        # What the server says: never a page, always sandboxed.
        response = page.request.get(url)
        assert response.status == 200
        headers = response.headers
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["content-security-policy"] == "sandbox; default-src 'none'"
        if name == "evil.png":
            assert headers["content-type"] == "image/png"
        else:
            assert headers["content-type"] == "application/octet-stream"
            assert headers["content-disposition"].startswith("attachment")
        # Opened directly, in the agent's own session: a download, or an inert picture.
        direct = page.context.new_page()
        direct_dialogs = watch_dialogs(direct)
        if name == "evil.png":
            direct.goto(url)
            direct.wait_for_timeout(300)
            assert direct.evaluate("window.__pwned") is None
            assert direct.title() != "pwned"
        else:
            with direct.expect_download() as download:
                try:
                    direct.goto(url)
                except Error as error:  # Chromium: "Download is starting"
                    assert "Download" in str(error) or "ERR_ABORTED" in str(error)
            assert download.value.suggested_filename == name
            assert direct.url in ("about:blank", "")
        assert direct_dialogs == []
        direct.close()
    assert dialogs == []
    assert page.evaluate("window.__pwned") is None
    visitor_context.close()
