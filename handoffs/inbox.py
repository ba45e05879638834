"""The inbox list: filters read from the query string and a keyset-paginated query.

Keyset pagination on (created_at, id) keeps page N as cheap as page 1 at 100k handoffs; every
filter maps onto the (status, -created_at) or (agent, status, -created_at) indexes. The queue
order (priority, then oldest first: Handoff.PRIORITY_ORDER, as routing serves the queue) pages
on (priority rank, created_at, id), one query per priority so the same indexes serve it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from django.contrib.auth.models import User
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from handoffs import queue_place
from handoffs.models import Handoff, HandoffRead, Label
from hitlnext_project.shared.ids import parse_id

Status = Handoff.Status
PAGE_SIZE = 25

# (query value, checkbox label) in display order: the accessible names of the filters.
STATUS_FILTERS = [
    ("unassigned", _("Unassigned")),
    ("mine", _("Assigned to me")),
    ("others", _("Assigned to others")),
    ("resolved", _("Resolved")),
    ("rejected", _("Rejected")),
    ("expired", _("Expired")),
]
DEFAULT_STATUSES = ("unassigned", "mine")
# "queue": the order the queue is served in (priority, then oldest first).
SORTS = ("newest", "oldest", "queue")
_TERMINAL = {"resolved": Status.RESOLVED, "rejected": Status.REJECTED, "expired": Status.EXPIRED}


@dataclass(frozen=True)
class InboxFilter:
    statuses: tuple[str, ...] = DEFAULT_STATUSES
    labels: tuple[int, ...] = ()
    sort: str = "newest"
    # (priority rank, created_at, id) of the last row shown; the rank is 0 unless sort=queue.
    cursor: tuple[int, datetime, int] | None = None

    @classmethod
    def from_query(cls, query: QueryDict) -> InboxFilter:
        known = {value for value, _ in STATUS_FILTERS}
        # "f" marks a submitted filter form: then no status ticked means "show nothing",
        # while a bare URL (no "f") gets the defaults.
        if "f" in query or "status" in query:
            statuses = tuple(s for s in dict.fromkeys(query.getlist("status")) if s in known)
        else:
            statuses = DEFAULT_STATUSES
        labels = tuple(
            pk for pk in (parse_id(v) for v in dict.fromkeys(query.getlist("label"))) if pk
        )
        sort = query.get("sort", "")
        sort = sort if sort in SORTS else "newest"
        return cls(statuses=statuses, labels=labels, sort=sort, cursor=_parse_cursor(query))

    def querystring(self, **changes) -> str:
        """The filter as a query string (without the cursor unless given)."""
        params: list[tuple[str, str]] = [("f", "1")]
        params += [("status", s) for s in changes.get("statuses", self.statuses)]
        params += [("label", str(pk)) for pk in self.labels]
        params.append(("sort", self.sort))
        if changes.get("cursor"):
            params.append(("cursor", changes["cursor"]))
        return urlencode(params)


def _parse_cursor(query: QueryDict) -> tuple[int, datetime, int] | None:
    """A "Load more" cursor, "<micros>-<id>" or, in queue order, "<rank>.<micros>-<id>";
    anything else (crafted, out of range) is ignored: the first page."""
    raw = query.get("cursor", "")
    rank_part, dot, raw = raw.rpartition(".")
    rank = int(rank_part) if rank_part.isascii() and rank_part.isdigit() else None
    if dot and (rank is None or rank >= len(Handoff.PRIORITY_ORDER)):
        return None
    micros, _, pk = raw.partition("-")
    micros_value, pk_value = parse_id(micros), parse_id(pk)
    if micros_value is None or pk_value is None:
        return None
    try:
        at = datetime.fromtimestamp(micros_value / 1_000_000, tz=UTC)
    except (OverflowError, OSError, ValueError):  # past the year 9999
        return None
    return rank or 0, at, pk_value


def format_cursor(handoff: Handoff, sort: str) -> str:
    micros = int(handoff.created_at.timestamp() * 1_000_000)
    rank = f"{handoff.queue_rank}." if sort == "queue" else ""
    return f"{rank}{micros}-{handoff.pk}"


def status_branches(statuses: tuple[str, ...], agent: User) -> list[Q]:
    """One condition per ticked status, each served by one of Handoff's inbox indexes."""
    branches = [Q(status=_TERMINAL[s]) for s in statuses if s in _TERMINAL]
    if "unassigned" in statuses:
        branches.append(Q(status=Status.PENDING))
    if "mine" in statuses and "others" in statuses:
        branches.append(Q(status=Status.ASSIGNED))
    elif "mine" in statuses:
        branches.append(Q(status=Status.ASSIGNED, agent=agent))  # (agent, status, -created_at)
    elif "others" in statuses:
        branches.append(Q(status=Status.ASSIGNED) & ~Q(agent=agent))
    return branches


def _branch_querysets(
    condition: Q, inbox_filter: InboxFilter
) -> Iterator[tuple[int, QuerySet[Handoff]]]:
    """(priority rank, rows after the cursor in order): one for the time sorts (rank 0), one
    per priority still to show for the queue order."""
    qs = Handoff.objects.filter(condition)
    if inbox_filter.labels:
        qs = qs.filter(
            Exists(
                Handoff.labels.through.objects.filter(
                    handoff_id=OuterRef("pk"), label_id__in=inbox_filter.labels
                )
            )
        )
    newest = inbox_filter.sort == "newest"
    ordering = ("-created_at", "-pk") if newest else ("created_at", "pk")
    cursor_rank, at, pk = inbox_filter.cursor or (0, None, None)
    if newest:
        after = Q(created_at__lt=at) | Q(created_at=at, pk__lt=pk)
    else:
        after = Q(created_at__gt=at) | Q(created_at=at, pk__gt=pk)
    if inbox_filter.sort != "queue":
        yield 0, (qs if at is None else qs.filter(after)).order_by(*ordering)
        return
    for rank, priority in enumerate(Handoff.PRIORITY_ORDER):
        if rank < cursor_rank:
            continue  # shown on earlier pages
        ranked = qs.filter(priority=priority)
        if rank == cursor_rank and at is not None:
            ranked = ranked.filter(after)
        yield rank, ranked.order_by(*ordering)


def page_ids(*, agent: User, inbox_filter: InboxFilter, limit: int) -> list[int]:
    """The ids of the page, in order: one small query per ticked status (per priority too in
    queue order), merged here.

    A single query with an OR of statuses sorts every matching row (all 100k when Resolved
    is ticked); each branch alone walks its status index and stops after `limit` rows.
    """
    keyed: list[tuple[int, datetime, int]] = []
    for condition in status_branches(inbox_filter.statuses, agent):
        for rank, qs in _branch_querysets(condition, inbox_filter):
            keyed += [(rank, at, pk) for at, pk in qs.values_list("created_at", "pk")[:limit]]
    keyed.sort(reverse=inbox_filter.sort == "newest")
    return [pk for _, _, pk in keyed[:limit]]


@dataclass
class InboxPage:
    handoffs: list[Handoff]
    next_cursor: str | None

    def __iter__(self) -> Iterator[Handoff]:
        return iter(self.handoffs)


def inbox_page(*, agent: User, inbox_filter: InboxFilter, size: int = PAGE_SIZE) -> InboxPage:
    """One page of the inbox plus this agent's read marks.

    Queries: one per ticked status (and priority, in queue order), then the rows, their
    labels, the read marks and, when some are pending, their queue positions; the count does
    not grow with the number of handoffs.
    """
    ids = page_ids(agent=agent, inbox_filter=inbox_filter, limit=size + 1)
    by_id = (
        Handoff.objects.filter(pk__in=ids[:size])
        .select_related("conversation__end_user", "agent")
        .prefetch_related("labels")
        .in_bulk()
        if ids
        else {}
    )
    rows = [by_id[pk] for pk in ids[:size] if pk in by_id]
    next_cursor = format_cursor(rows[-1], inbox_filter.sort) if len(ids) > size and rows else None
    read_at = dict(
        HandoffRead.objects.filter(
            agent=agent, conversation_id__in={h.conversation_id for h in rows}
        ).values_list("conversation_id", "last_read_at")
    )
    positions = queue_place.positions(rows)  # one query when the page holds pending rows
    for handoff in rows:
        last_read = read_at.get(handoff.conversation_id)
        handoff.read_at = last_read
        handoff.unread = last_read is None or last_read < handoff.last_activity_at
        handoff.queue_position = positions.get(handoff.pk)
    return InboxPage(handoffs=rows, next_cursor=next_cursor)


def all_labels() -> list[Label]:
    return list(Label.objects.all())
