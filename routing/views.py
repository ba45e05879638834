"""Transfer: the "Transfer handoff" dialog and its answer, on the conversation page.

The dialog lists the online agents with their load (routing.load) as they are when it opens;
the change itself is handoffs.services.transfer_handoff, which decides who may transfer what.
Answers are the conversation panel's, like "Assign to me" and "Resolve".
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods

from agents.roles import is_supervisor
from handoffs import services
from handoffs.errors import REFUSALS, NotYourHandoff
from handoffs.models import Handoff
from handoffs.views import get_handoff_for_agent, panel_response, refusal
from hitlnext_project.shared.http import AuthenticatedHttpRequest
from hitlnext_project.shared.ids import parse_id
from routing.load import AgentLoad, loads_of

# The dialog's choice for "Back to queue".
TO_QUEUE = "queue"


def transfer_targets(handoff: Handoff) -> list[AgentLoad]:
    """Online agents other than the assignee, the least loaded first: one query."""
    online = Q(is_active=True, agent_profile__online=True) & ~Q(pk=handoff.agent_id)
    return sorted(loads_of(online), key=lambda load: (load.open_handoffs, load.name.casefold()))


@login_required
@require_http_methods(["GET", "POST"])
def transfer(request: AuthenticatedHttpRequest, handoff_id: int) -> HttpResponse:
    """GET: the dialog's content. POST to=<agent id> | to=queue: the transfer."""
    handoff = get_handoff_for_agent(request, handoff_id)
    if request.method == "GET":
        # The same rule the service applies, to spare a dialog that could only be refused.
        if handoff.agent_id != request.user.pk and not is_supervisor(request.user):
            return refusal(request, handoff, NotYourHandoff(handoff.pk))
        context = {"handoff": handoff, "agents": transfer_targets(handoff), "to_queue": TO_QUEUE}
        return render(request, "routing/transfer.html", context)
    choice = request.POST.get("to", "")
    to = None
    if choice != TO_QUEUE:
        agent_id = parse_id(choice)
        to = get_user_model().objects.filter(pk=agent_id).first() if agent_id else None
        if to is None:
            return refusal(
                request, handoff, gettext("Pick an online agent, or Back to queue."), status=422
            )
    try:
        handoff = services.transfer_handoff(handoff=handoff, by=request.user, to=to)
    except REFUSALS as error:
        return refusal(request, handoff, error)
    return panel_response(request, handoff)
