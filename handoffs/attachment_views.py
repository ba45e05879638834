"""Serving message attachments: to a signed-in agent (every agent reads every handoff), or to
whoever holds a signed link that has not expired (the bot, from its events; the web chat
visitor). Anything else is the same plain 404, whether the file exists or not."""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.http import FileResponse, Http404, HttpRequest, HttpResponseBase
from django.views.decorators.http import require_GET

from conversations.attachments import attachment_storage, serving_headers, signature_valid
from conversations.models import Attachment


@require_GET
def serve_attachment(request: HttpRequest, attachment_id: int) -> HttpResponseBase:
    token = request.GET.get("s", "")
    agent = request.user.is_authenticated and request.user.is_active
    # The signature first: a bad or expired link learns nothing, not even whether the id is
    # taken, and costs no query.
    if not agent and not signature_valid(attachment_id, token):
        if not token:
            return redirect_to_login(request.get_full_path())
        raise Http404
    attachment = Attachment.objects.filter(pk=attachment_id).first()
    if attachment is None:
        raise Http404
    try:
        stored = attachment_storage().open(attachment.storage_name, "rb")
    except (FileNotFoundError, OSError):
        raise Http404 from None
    content_type, download, headers = serving_headers(
        name=attachment.name, content_type=attachment.content_type
    )
    response = FileResponse(
        stored, as_attachment=download, filename=attachment.name, content_type=content_type
    )
    for name, value in headers.items():
        response.headers[name] = value
    return response
