"""Labels on handoffs, and the label list itself: every change reports handoff.updated for
the handoffs it touches.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import User
from django.db import transaction

from agents.services import require_online
from handoffs.models import Handoff, Label
from handoffs.steps import (
    emit_handoff_event,
    load_handoff,
    lock_conversation,
    resolve_labels,
)


def set_handoff_labels(
    *, handoff: Handoff, names: Iterable[str], agent: User | None = None
) -> Handoff:
    """Replace the handoff's labels; one handoff.updated event when they really change."""
    labels = resolve_labels(names)
    if agent is not None:
        require_online(agent)
    with transaction.atomic():
        lock_conversation(handoff.conversation_id)
        locked = Handoff.objects.select_for_update().get(pk=handoff.pk)
        before = set(locked.labels.values_list("pk", flat=True))
        if before == {label.pk for label in labels}:
            return load_handoff(locked.pk)
        locked.labels.set(labels)
        handoff = load_handoff(locked.pk)
        emit_handoff_event(handoff, "handoff.updated")
    return handoff


def save_label(*, label: Label) -> Label:
    """Save a new or edited label. A rename changes every handoff carrying it, so each of them
    reports handoff.updated, as set_handoff_labels would."""
    with transaction.atomic():
        if label.pk is None:
            label.save()
            return label
        # Lock the row so two concurrent renames each see the name they replace.
        before = Label.objects.select_for_update().get(pk=label.pk)
        label.save()
        if before.name != label.name:
            for handoff_id in label.handoffs.values_list("pk", flat=True):
                emit_handoff_event(load_handoff(handoff_id), "handoff.updated")
    return label


def delete_label(*, label: Label) -> int:
    """Delete a label; the handoffs that carried it report handoff.updated. Returns how many."""
    with transaction.atomic():
        locked = Label.objects.select_for_update().get(pk=label.pk)
        handoff_ids = list(locked.handoffs.values_list("pk", flat=True))
        locked.delete()
        for handoff_id in handoff_ids:
            emit_handoff_event(load_handoff(handoff_id), "handoff.updated")
    return len(handoff_ids)
