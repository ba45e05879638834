"""The visitor's chat page and the widget demo host page. No login: visitors are anonymous."""

from __future__ import annotations

from urllib.parse import urlencode

from csp.decorators import csp_replace
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_GET

from webchat import services, visitors


def _visitor_id(request: HttpRequest) -> str:
    visitor_id = request.session.get(visitors.SESSION_KEY)
    if not visitors.is_visitor_id(visitor_id):
        visitor_id = visitors.new_visitor_id()
        request.session[visitors.SESSION_KEY] = visitor_id
    return visitor_id


# The chat page is the one page that may be framed (by the widget): the old X-Frame-Options
# header cannot name several origins, so it is dropped here and CSP frame-ancestors (from
# HITLNEXT_WEBCHAT_FRAME_ANCESTORS, default 'self') decides instead.
@require_GET
@never_cache
@xframe_options_exempt
@csp_replace({"frame-ancestors": settings.HITLNEXT_WEBCHAT_FRAME_ANCESTORS})
def chat(request: HttpRequest) -> HttpResponse:
    visitor_id = _visitor_id(request)
    conversation = services.find_conversation(visitor_id)
    token = urlencode({"t": visitors.visitor_token(visitor_id)})
    return render(
        request,
        "webchat/chat.html",
        {
            "embed": request.GET.get("embed") == "1",
            "socket_path": f"/ws/chat/?{token}",
            "handoff": services.latest_handoff(conversation),
            "messages": services.recent_messages(conversation),
            "max_length": services.MAX_TEXT_LENGTH,
            "notice": "",
        },
    )


@require_GET
def demo(request: HttpRequest) -> HttpResponse:
    """A stand-in for a customer's website, embedding the widget with one script tag."""
    return render(request, "webchat/demo.html")
