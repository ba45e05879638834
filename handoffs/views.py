"""The agent workspace: the inbox and the conversation panel.

Every agent reads every handoff (one shared inbox); writing, assigning and resolving are
decided by the services (online, assignee), whose refusals become a visible message.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import reswap, retarget

from conversations.attachments import AttachmentError, limit_uploads, store_uploads
from handoffs import messaging, services
from handoffs.contact import contact_context
from handoffs.errors import REFUSALS, AgentOffline, HandoffError, NotYourHandoff
from handoffs.inbox import STATUS_FILTERS, InboxFilter, all_labels, inbox_page
from handoffs.live import render_messages_push
from handoffs.models import Handoff
from handoffs.naming import name_context
from hitlnext_project.shared.http import AuthenticatedHttpRequest
from hitlnext_project.shared.ids import parse_id

PANEL = "handoffs/conversation.html#panel"


def get_handoff_for_agent(request: AuthenticatedHttpRequest, handoff_id: int) -> Handoff:
    """The one place a view fetches a handoff: unknown ids are 404 for everyone."""
    return get_object_or_404(
        Handoff.objects.select_related("conversation__end_user", "agent", "bot"), pk=handoff_id
    )


def _inbox_context(
    request: AuthenticatedHttpRequest, *, current_handoff_id: int | None = None
) -> dict:
    inbox_filter = InboxFilter.from_query(request.GET)
    return {
        "inbox_filter": inbox_filter,
        "status_filters": STATUS_FILTERS,
        "labels": all_labels(),
        "page": inbox_page(agent=request.user, inbox_filter=inbox_filter),
        "more_querystring": inbox_filter.querystring(),
        "viewer_id": request.user.pk,
        "current_handoff_id": current_handoff_id,
    }


def _panel_context(request: AuthenticatedHttpRequest, handoff: Handoff) -> dict:
    """The last HITLNEXT_MESSAGE_COUNT messages. Shown as read: the page tells the server so
    over its socket ("read"), since a GET changes nothing."""
    count = settings.HITLNEXT_MESSAGE_COUNT
    conversation = handoff.conversation
    newest = list(conversation.messages.select_related("author").order_by("-id")[: count + 1])
    older_cursor = newest[count - 1].pk if len(newest) > count else None
    read_at = timezone.now()
    return {
        "handoff": handoff,
        "conversation": conversation,
        "messages": newest[:count][::-1],
        "older_cursor": older_cursor,
        **name_context(conversation.end_user),
        "can_write": handoff.status == Handoff.Status.ASSIGNED
        and handoff.agent_id == request.user.pk,
        "viewer_id": request.user.pk,
        "read_at": read_at,
    } | contact_context(handoff)


@login_required
@require_GET
def inbox(request: AuthenticatedHttpRequest) -> HttpResponse:
    return render(request, "handoffs/inbox.html", _inbox_context(request))


@login_required
@require_GET
def inbox_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The filtered list (a filter change, a refresh) or, with a cursor, the next page."""
    context = _inbox_context(request)
    if context["inbox_filter"].cursor is not None:
        return render(request, "handoffs/inbox_list.html#page", context)
    response = render(request, "handoffs/inbox_list.html#list", context)
    if request.htmx and request.htmx.current_url_abs_path:
        # Keep the address bar in step with the filters, whatever page the list sits on.
        path = urlsplit(request.htmx.current_url_abs_path).path
        response["HX-Replace-Url"] = f"{path}?{context['inbox_filter'].querystring()}"
    return response


@login_required
@require_GET
def handoff_detail(request: AuthenticatedHttpRequest, handoff_id: int) -> HttpResponse:
    """The conversation panel: swapped into the inbox by htmx, or the whole page."""
    handoff = get_handoff_for_agent(request, handoff_id)
    context = _panel_context(request, handoff)
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, PANEL, context)
    context |= _inbox_context(request, current_handoff_id=handoff.pk)
    return render(request, "handoffs/inbox.html", context)


@login_required
@require_GET
def handoff_messages(request: AuthenticatedHttpRequest, handoff_id: int) -> HttpResponse:
    """Older messages, loaded when the agent scrolls up: ?before=<oldest shown message id>."""
    handoff = get_handoff_for_agent(request, handoff_id)
    before = parse_id(request.GET.get("before", ""))
    if before is None:
        return HttpResponse("Which messages? Give ?before=<message id>.", status=400)
    count = settings.HITLNEXT_MESSAGE_COUNT
    older = list(
        handoff.conversation.messages.filter(pk__lt=before)
        .select_related("author")
        .order_by("-id")[: count + 1]
    )
    context = {
        "handoff": handoff,
        "messages": older[:count][::-1],
        "older_cursor": older[count - 1].pk if len(older) > count else None,
        **name_context(handoff.conversation.end_user),
    }
    return render(request, "handoffs/conversation.html#older_page", context)


@login_required
@require_POST
def assign(request: AuthenticatedHttpRequest, handoff_id: int) -> HttpResponse:
    handoff = get_handoff_for_agent(request, handoff_id)
    try:
        handoff = services.assign_handoff(handoff=handoff, agent=request.user)
    except REFUSALS as error:
        return refusal(request, handoff, error)
    return panel_response(request, handoff)


@login_required
@require_POST
def resolve(request: AuthenticatedHttpRequest, handoff_id: int) -> HttpResponse:
    handoff = get_handoff_for_agent(request, handoff_id)
    try:
        handoff = services.resolve_handoff(handoff=handoff, agent=request.user)
    except REFUSALS as error:
        return refusal(request, handoff, error)
    return panel_response(request, handoff)


@csrf_exempt  # checked by _send, once the upload guard is in place (Django's documented way)
@login_required
@require_POST
def send(request: AuthenticatedHttpRequest, handoff_id: int) -> HttpResponse:
    """The composer: text, attached files, or both. The htmx answer is the new message, out of
    band (the composer stays); a refused file is shown in the composer (422)."""
    # Before anything reads the body: each file is counted as it is read, and one past
    # HITLNEXT_ATTACHMENT_MAX_BYTES stops the upload (nothing past it is kept).
    guard = limit_uploads(request)
    announced_too_large = guard.refusal()
    if announced_too_large:  # refused unread: changes nothing, so no CSRF check is needed
        return attach_refusal(
            request, get_handoff_for_agent(request, handoff_id), announced_too_large
        )
    return _send(request, handoff_id, guard_refusal=guard.refusal)


@csrf_protect
def _send(
    request: AuthenticatedHttpRequest,
    handoff_id: int,
    *,
    guard_refusal: Callable[[], str | None],
) -> HttpResponse:
    handoff = get_handoff_for_agent(request, handoff_id)
    uploads = request.FILES.getlist("files")  # reads the body, through the guard
    too_large = guard_refusal()
    if too_large:
        return attach_refusal(request, handoff, too_large)
    text = request.POST.get("text", "")
    files = []
    if uploads:
        try:
            # The agent must be able to send at all before anything is stored.
            messaging.check_can_write(handoff=handoff, agent=request.user)
            files = store_uploads(uploads)
        except AttachmentError as error:
            return attach_refusal(request, handoff, str(error))
        except REFUSALS as error:
            return refusal(request, handoff, error)
    try:
        message = messaging.send_agent_message(
            handoff=handoff, agent=request.user, text=text, files=files
        )
    except ValueError as error:
        return refusal(request, handoff, str(error), status=422)
    except REFUSALS as error:
        return refusal(request, handoff, error)
    if not request.htmx:
        return redirect("handoff", handoff.pk)
    return HttpResponse(render_messages_push([message], conversation=handoff.conversation))


def attach_refusal(request: AuthenticatedHttpRequest, handoff: Handoff, error: str) -> HttpResponse:
    """A file that cannot be sent: the composer shows why (422); the draft stays."""
    if not request.htmx:
        return refusal(request, handoff, error, status=422)
    response = HttpResponse(error, status=422, content_type="text/plain; charset=utf-8")
    response = retarget(response, f"#composer-attach-error-{handoff.pk}")
    response["HX-Reswap"] = "textContent"  # the message as text, never markup
    return response


def panel_response(request: AuthenticatedHttpRequest, handoff: Handoff) -> HttpResponse:
    if not request.htmx:
        return redirect("handoff", handoff.pk)
    handoff = get_handoff_for_agent(request, handoff.pk)
    return render(request, PANEL, _panel_context(request, handoff))


def refusal(
    request: AuthenticatedHttpRequest,
    handoff: Handoff,
    error: HandoffError | AgentOffline | str,
    *,
    status: int | None = None,
) -> HttpResponse:
    """A refused action as a visible message: 403 (offline, not yours), 409 (state), 422."""
    if status is None:
        status = 403 if isinstance(error, AgentOffline | NotYourHandoff) else 409
    # Re-read: the refusal usually means the handoff changed under the agent's feet.
    handoff = get_handoff_for_agent(request, handoff.pk)
    if request.htmx:
        context = {"message": str(error), "handoff": handoff}
        response = render(request, "handoffs/flash.html", context, status=status)
        return reswap(retarget(response, "#flash"), "innerHTML")
    context = _panel_context(request, handoff) | _inbox_context(
        request, current_handoff_id=handoff.pk
    )
    context["flash_message"] = str(error)
    return render(request, "handoffs/inbox.html", context, status=status)
