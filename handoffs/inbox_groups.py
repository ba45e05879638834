"""Targeted inbox fan-out: which socket groups an inbox item is pushed to, and which of them a
page joins for the filters it shows.

At a real support floor most relayed messages belong to assigned handoffs, whose inbox item
only its assignee's default view shows (Unassigned + Assigned to me). Pushing every item to
every page (one group for all) cost a frame per page per message; here an item goes only to
the pages whose view can show it:

- "inbox.pending": pages showing Unassigned — every pending item;
- "inbox.assigned": pages showing Assigned to others — every assigned item (their own too:
  the page drops what its filter does not show);
- "inbox.agent.<id>": that agent's pages showing Assigned to me but not to others;
- "inbox.resolved" / "inbox.rejected" / "inbox.expired": pages showing those;
- "inbox" (INBOX_GROUP, every agent page, whatever it shows): a handoff waiting, created or
  requeued — the new-handoff chime and title rings on every page, as before.

A change of state (handoffs.signals.handoff_changed) also goes to the groups of every state
the item may have left — pending, assigned, and the agents it was assigned to — so a page
showing it drops it. A socket in several of these groups gets one push several times; the
consumer forwards it once (each push has an id). Labels stay a filter of the page: a push per
label would multiply, not divide, the frames.
"""

from __future__ import annotations

from collections.abc import Iterable

from handoffs.models import Handoff

Status = Handoff.Status

INBOX_GROUP = "inbox"
PENDING_GROUP = "inbox.pending"
ASSIGNED_GROUP = "inbox.assigned"
_TERMINAL_GROUPS: dict[str, str] = {str(s): f"inbox.{s}" for s in Handoff.TERMINAL}
# The page's filter values (handoffs.inbox.STATUS_FILTERS) and the statuses they show.
VIEW_STATUSES = ("unassigned", "mine", "others", "resolved", "rejected", "expired")


def agent_inbox_group(agent_id: int) -> str:
    return f"inbox.agent.{agent_id}"


def view_groups(statuses: Iterable[str], agent_id: int) -> set[str]:
    """The groups a page of this agent joins to see every change of what its filter shows."""
    shown = set(statuses)
    groups = {_TERMINAL_GROUPS[s] for s in shown if s in _TERMINAL_GROUPS}
    if "unassigned" in shown:
        groups.add(PENDING_GROUP)
    if "others" in shown:
        groups.add(ASSIGNED_GROUP)  # every assigned item, this agent's own included
    elif "mine" in shown:
        groups.add(agent_inbox_group(agent_id))
    return groups


def item_groups(
    handoff: Handoff, *, changed_state: bool, previous_agent_ids: Iterable[int | None] = ()
) -> list[str]:
    """The groups that must see this push of the handoff's inbox item.

    changed_state: the push announces a transition (or may: created, assigned, transferred,
    requeued, closed), so the pages showing where the item was must drop it; False for a push
    of an item whose state did not change (a user message, the user's new name).
    """
    if handoff.status == Status.PENDING:
        groups = [PENDING_GROUP]
    elif handoff.status == Status.ASSIGNED:
        groups = [ASSIGNED_GROUP, agent_inbox_group(handoff.agent_id)]  # type: ignore[arg-type]
    else:
        groups = [_TERMINAL_GROUPS[handoff.status]]
    if not changed_state:
        return groups
    if handoff.status == Status.PENDING:
        groups.append(INBOX_GROUP)
    # Where it may have been: waiting, assigned, and with whom (the agent a transfer or a
    # requeue took it from; a closed handoff keeps its last agent).
    agents = {handoff.agent_id, handoff.requeued_from_id, *previous_agent_ids}
    for group in (
        PENDING_GROUP,
        ASSIGNED_GROUP,
        *(agent_inbox_group(a) for a in sorted(a for a in agents if a)),
    ):
        if group not in groups:
            groups.append(group)
    return groups
