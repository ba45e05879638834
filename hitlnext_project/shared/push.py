"""Pushing pre-rendered HTML to socket groups, and announcing changes to other apps.

A push is a nudge: pages and visitors re-sync from the database on (re)connect, so a push
that fails is logged and dropped, never raised into the change that caused it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, ParamSpec

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.dispatch import Signal

logger = logging.getLogger(__name__)

P = ParamSpec("P")


def send_to_group(group: str, html: str) -> None:
    """Every socket in the group forwards `html` as is (consumers' push_html)."""
    if html:
        send_event(group, {"type": "push.html", "html": html})


def send_event(group: str, event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, event)
    except Exception:  # best effort: the database already holds the truth
        logger.exception("live push to %s failed", group)


def best_effort(push: Callable[P, None]) -> Callable[P, None]:
    """For pushes, which run as on-commit hooks among others: a rendering failure must not
    turn a committed change into an error for the caller, nor stop the next hook."""

    @functools.wraps(push)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            push(*args, **kwargs)
        except Exception:
            logger.exception("live push %s.%s failed", push.__module__, push.__name__)

    return wrapper


def announce(signal: Signal, sender: type, **kwargs: Any) -> None:
    """Send a signal to every listener; one failing listener is logged and the others still
    run. Lower apps announce this way after commit and higher apps listen, so dependencies
    point one way: the announcer never imports its listeners."""
    for receiver, result in signal.send_robust(sender=sender, **kwargs):
        if isinstance(result, Exception):
            logger.error(
                "listener %s failed", getattr(receiver, "__qualname__", receiver), exc_info=result
            )
