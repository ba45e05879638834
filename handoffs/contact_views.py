"""The contact details column's endpoints: the column itself, notes, labels, the message
templates filled for this conversation, and conversation deletion.

Who may do what (every agent reads every handoff, as in the rest of the workspace):
- notes: any online agent, assignee or watcher, on any handoff of the conversation;
- labels: any online agent, on any handoff, active or finished (labels sort the inbox);
- message templates: any agent (a read; only the assignee has a composer to use them in);
- deletion: any online agent, when HITLNEXT_ENABLE_CONVERSATION_DELETION is on and the
  conversation has no active handoff.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from handoffs import erasure, labels, messaging
from handoffs.contact import contact_context, handoff_parts
from handoffs.errors import (
    REFUSALS,
    AgentOffline,
    ConversationStillActive,
    HandoffError,
    UnknownLabel,
)
from handoffs.models import Handoff, MessageTemplate
from handoffs.templating import render_message_template
from handoffs.views import (
    _inbox_context,
    _panel_context,
    get_handoff_for_agent,
    panel_response,
    refusal,
)
from hitlnext_project.shared.http import AuthenticatedHttpRequest

CONTACT = "handoffs/contact.html#contact"


@login_required
@require_GET
def contact(request: AuthenticatedHttpRequest, handoff_id: int) -> HttpResponse:
    """The column alone: the page re-fetches it after its socket reconnects."""
    handoff = get_handoff_for_agent(request, handoff_id)
    return render(request, CONTACT, contact_context(handoff))


@login_required
@require_POST
def add_note(request: AuthenticatedHttpRequest, handoff_id: int) -> HttpResponse:
    handoff = get_handoff_for_agent(request, handoff_id)
    text = request.POST.get("text", "")
    try:
        note = messaging.add_note(handoff=handoff, author=request.user, text=text)
    except ValueError as error:
        return refusal(request, handoff, str(error), status=422)
    except REFUSALS as error:
        return refusal(request, handoff, error)
    if not request.htmx:
        return redirect("handoff", handoff.pk)
    context = {"notes": [note], "conversation_id": handoff.conversation_id}
    return render(request, "handoffs/notes.html#append", context)


@login_required
@require_POST
def set_labels(request: AuthenticatedHttpRequest, handoff_id: int) -> HttpResponse:
    """The whole set of ticked labels; one handoff.updated when it differs from the stored one."""
    handoff = get_handoff_for_agent(request, handoff_id)
    try:
        labels.set_handoff_labels(
            handoff=handoff, names=request.POST.getlist("label"), agent=request.user
        )
    except REFUSALS as error:
        status = 422 if isinstance(error, UnknownLabel) else None
        return _labels_refusal(request, handoff, error, status=status)
    if not request.htmx:
        return redirect("handoff", handoff.pk)
    # The ticks are already on the agent's page; the push updates everyone else's.
    return HttpResponse(status=204)


def _labels_refusal(
    request: AuthenticatedHttpRequest,
    handoff: Handoff,
    error: HandoffError | AgentOffline,
    *,
    status: int | None,
) -> HttpResponse:
    response = refusal(request, handoff, error, status=status)
    if request.htmx:
        # Put the checkboxes back as stored: the agent's ticks did not count.
        fresh = get_handoff_for_agent(request, handoff.pk)
        response.content += render_to_string(
            "handoffs/contact.html#labels", handoff_parts(fresh) | {"oob": True}, request
        ).encode()
    return response


@login_required
@require_GET
def message_templates(request: AuthenticatedHttpRequest, handoff_id: int) -> JsonResponse:
    """Every message template, filled for this conversation's user and the asking agent.

    JSON of plain text: the page puts it in the composer's value and in text nodes only.
    """
    handoff = get_handoff_for_agent(request, handoff_id)
    end_user = handoff.conversation.end_user
    templates = [
        {
            "id": template.pk,
            "name": template.name,
            "text": render_message_template(
                text=template.text, end_user=end_user, agent=request.user
            ),
        }
        for template in MessageTemplate.objects.order_by("name")
    ]
    response = JsonResponse({"templates": templates})
    response["Cache-Control"] = "private, no-store"  # it holds the user's details
    return response


@login_required
@require_http_methods(["GET", "POST"])
def delete_conversation(request: AuthenticatedHttpRequest, handoff_id: int) -> HttpResponse:
    """GET: the confirmation step (?cancel=1: back to the button). POST: delete the messages."""
    handoff = get_handoff_for_agent(request, handoff_id)
    if not settings.HITLNEXT_ENABLE_CONVERSATION_DELETION:
        raise Http404("Conversation deletion is turned off.")
    if request.method == "GET":
        if handoff.is_active:
            return refusal(request, handoff, ConversationStillActive(handoff.pk))
        confirm = "cancel" not in request.GET
        if request.htmx:
            context = handoff_parts(handoff) | {"confirm_deletion": confirm}
            return render(request, "handoffs/contact.html#deletion", context)
        context = _panel_context(request, handoff) | _inbox_context(
            request, current_handoff_id=handoff.pk
        )
        return render(request, "handoffs/inbox.html", context | {"confirm_deletion": confirm})
    try:
        erasure.delete_conversation_messages(conversation=handoff.conversation, agent=request.user)
    except REFUSALS as error:
        return refusal(request, handoff, error)
    return panel_response(request, handoff)
