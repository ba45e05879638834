"""Signed webhook delivery of the outbox (filled in by the delivery work)."""

from __future__ import annotations


def deliver_due(*, limit: int = 50) -> int:
    return 0
