"""The relay's locked read, compiled once.

Relaying a message (handoffs.messaging) starts with one read: the conversation, locked for the
rest of the transaction and joined to its user, with the id of its active handoff and of a
message already stored under the bot's message id (each at most one row: unique constraints).
Django built and compiled that query anew for every message: about 1.5 ms of Python, three
times what the read itself takes in PostgreSQL, and the largest part of relaying a message
(README "Benchmarks", ingest). Its shape never changes, so it is compiled once per database,
from the same QuerySet with stand-in values, and each message only puts its own values into
the compiled parameters; the row becomes model instances as Django's own iterator makes them
(the same columns, the same converters).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from django.db import connections, router
from django.db.models import OuterRef, QuerySet, Subquery

from conversations.models import Bot, Conversation, EndUser, Message
from handoffs.models import Handoff

# Stand-ins for the three values that change, found again among the compiled parameters.
_BOT, _THREAD, _MESSAGE = -7_318_046_291, "\x00thread", "\x00message"


@dataclass(frozen=True)
class RelayRead:
    conversation: Conversation  # locked; its end_user loaded
    active_handoff_pk: int | None
    same_message_pk: int | None


def locked_for_relay(*, bot: Bot, conversation_id: str, external_id: str) -> RelayRead | None:
    """The conversation `conversation_id` of `bot`, locked (call inside a transaction), or
    None when the bot has none of that id yet."""
    alias = router.db_for_write(Conversation)
    plan = _plan(alias)
    values = (bot.pk, conversation_id, external_id)
    params = [values[plan.slots[i]] if i in plan.slots else p for i, p in enumerate(plan.params)]
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute(plan.sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    row = list(row)
    for index, (converters, expression) in plan.converters.items():
        for convert in converters:
            row[index] = convert(row[index], expression, connection)
    conversation = Conversation.from_db(
        alias, plan.conversation_attnames, [row[i] for i in plan.conversation_columns]
    )
    conversation.end_user = EndUser.from_db(
        alias, plan.end_user_attnames, [row[i] for i in plan.end_user_columns]
    )
    return RelayRead(
        conversation=conversation,
        active_handoff_pk=row[plan.annotations["active_handoff_pk"]],
        same_message_pk=row[plan.annotations["same_message_pk"]],
    )


def _query(bot_id: int, conversation_id: str, external_id: str) -> QuerySet[Conversation]:
    # Only the conversation row is locked (requests about it take turns), not its user's.
    return (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("end_user")
        .annotate(
            active_handoff_pk=Subquery(
                Handoff.objects.filter(
                    conversation=OuterRef("pk"), status__in=Handoff.ACTIVE
                ).values("pk")[:1]
            ),
            same_message_pk=Subquery(
                Message.objects.filter(conversation=OuterRef("pk"), external_id=external_id).values(
                    "pk"
                )[:1]
            ),
        )
        .filter(bot_id=bot_id, external_id=conversation_id)[:1]  # unique: no ORDER BY
    )


@dataclass(frozen=True)
class _Plan:
    sql: str
    params: tuple[Any, ...]
    slots: dict[int, int]  # parameter index -> which value: 0 the bot, 1 the thread, 2 the message
    converters: dict[int, tuple[list, Any]]  # column index -> (converters, expression)
    conversation_columns: list[int]
    conversation_attnames: list[str]
    end_user_columns: list[int]
    end_user_attnames: list[str]
    annotations: dict[str, int]  # annotation -> column index


_plans: dict[str, _Plan] = {}
_lock = threading.Lock()


def _plan(alias: str) -> _Plan:
    plan = _plans.get(alias)
    if plan is None:
        with _lock:
            plan = _plans.get(alias) or _compile(alias)
            _plans[alias] = plan
    return plan


def _compile(alias: str) -> _Plan:
    """Compiled inside the caller's transaction (Django refuses FOR UPDATE outside one)."""
    compiler = _query(_BOT, _THREAD, _MESSAGE).query.get_compiler(using=alias)
    sql, params = compiler.as_sql()
    stand_ins = {(int, _BOT): 0, (str, _THREAD): 1, (str, _MESSAGE): 2}
    slots = {i: stand_ins[(type(p), p)] for i, p in enumerate(params) if (type(p), p) in stand_ins}
    assert sorted(slots.values()) == [0, 1, 2], f"stand-ins not found in {params!r}"
    select = compiler.select
    converters = compiler.get_converters([s[0] for s in select[: compiler.col_count]])
    klass_info = compiler.klass_info
    assert klass_info is not None
    (related,) = klass_info["related_klass_infos"]
    assert related["model"] is EndUser

    def attnames(columns: list[int]) -> list[str]:
        return [select[i][0].target.attname for i in columns]

    return _Plan(
        sql=sql,
        params=tuple(params),
        slots=slots,
        converters=converters,
        conversation_columns=list(klass_info["select_fields"]),
        conversation_attnames=attnames(klass_info["select_fields"]),
        end_user_columns=list(related["select_fields"]),
        end_user_attnames=attnames(related["select_fields"]),
        annotations=dict(compiler.annotation_col_map),
    )
