"""The visitor's chat page and the widget demo host page. No login: visitors are anonymous."""

from __future__ import annotations

import math
from urllib.parse import urlencode

from csp.decorators import csp_replace
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from conversations.attachments import (
    AttachmentError,
    describe_limits,
    limit_uploads,
    store_uploads,
)
from webchat import limits, live, services, visitors


def _known_visitor(request: HttpRequest) -> str | None:
    visitor_id = visitors.visitor_from_cookie(request.COOKIES.get(visitors.COOKIE_NAME))
    if visitor_id is None and settings.SESSION_COOKIE_NAME in request.COOKIES:
        # A visitor from before the id moved to its cookie: their session names it (read
        # only; the cookie set below takes over).
        legacy = request.session.get(visitors.SESSION_KEY)
        visitor_id = legacy if visitors.is_visitor_id(legacy) else None
    return visitor_id


# The chat page is the one page that may be framed (by the widget): the old X-Frame-Options
# header cannot name several origins, so it is dropped here and CSP frame-ancestors (from
# HITLNEXT_WEBCHAT_FRAME_ANCESTORS, default 'self') decides instead.
@require_GET
@never_cache
@xframe_options_exempt
@csp_replace({"frame-ancestors": settings.HITLNEXT_WEBCHAT_FRAME_ANCESTORS})
def chat(request: HttpRequest) -> HttpResponse:
    embed = request.GET.get("embed") == "1"
    visitor_id = _known_visitor(request)
    if visitor_id is None:
        # A new visitor costs no database row: the id lives in its cookie until the first
        # message creates the conversation. Only how many are issued is limited.
        wait = limits.new_visitor_wait(address=request.META.get("REMOTE_ADDR", ""))
        if wait is not None:
            response = render(
                request,
                "webchat/busy.html",
                {"embed": embed, "minutes": math.ceil(wait / 60)},
                status=429,
            )
            response["Retry-After"] = str(wait)
            return response
        visitor_id = visitors.new_visitor_id()
        conversation = None
    else:
        conversation = services.find_conversation(visitor_id)
    token = urlencode({"t": visitors.visitor_token(visitor_id)})
    response = render(
        request,
        "webchat/chat.html",
        {
            "embed": embed,
            "socket_path": f"/ws/chat/?{token}",
            "attach_path": f"{reverse('webchat_attach')}?{token}",
            "attachment_limits": describe_limits(),
            "messages": services.recent_messages(conversation),
            "max_length": services.MAX_TEXT_LENGTH,
            "notice": "",
        }
        | live.status_context(services.latest_handoff(conversation)),
    )
    visitors.set_visitor_cookie(response, visitor_id)
    return response


@require_GET
def demo(request: HttpRequest) -> HttpResponse:
    """A stand-in for a customer's website, embedding the widget with one script tag."""
    return render(request, "webchat/demo.html")


# Not the visitor cookie but the signed token the page carries (as its socket does): a page on
# another site cannot know it, so it is what stops forged uploads, as a CSRF token would (the
# chat page, framed on other sites, has no CSRF cookie it could rely on).
@csrf_exempt
@require_POST
@never_cache
def attach(request: HttpRequest) -> HttpResponse:
    """The visitor sends a file: it becomes their message, which comes back over the socket
    like any other. The answer is the notice (empty, or why the file was refused: 422)."""
    visitor_id = visitors.visitor_from_token(request.GET.get("t", ""))
    if visitor_id is None:
        return _attach_notice(request, gettext("Please reload the page to send files."), status=403)
    # The same budgets as a message, from the cache, before the body is read or the database
    # is touched.
    address = request.META.get("REMOTE_ADDR", "")
    if limits.message_wait(visitor_id=visitor_id, address=address) is not None:
        return _attach_notice(request, str(services.TOO_QUICKLY), status=429)
    guard = limit_uploads(request)
    refusal = guard.refusal()  # a body announced too large is refused unread
    uploads = [] if refusal else request.FILES.getlist("file")  # read through the guard
    refusal = refusal or guard.refusal()
    if refusal:
        return _attach_notice(request, refusal, status=422)
    if not uploads:
        return _attach_notice(request, gettext("Please choose a file."), status=422)
    try:
        files = store_uploads(uploads)
        services.post_visitor_message(visitor_id=visitor_id, text="", files=files)
    except (AttachmentError, services.VisitorError) as error:
        return _attach_notice(request, str(error), status=422)
    return _attach_notice(request, "", status=200)


def _attach_notice(request: HttpRequest, notice: str, *, status: int) -> HttpResponse:
    return render(request, "webchat/chat.html#notice", {"notice": notice}, status=status)
