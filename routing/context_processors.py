from __future__ import annotations

from django.utils.functional import SimpleLazyObject

from routing.load import load_of


def load(request) -> dict:
    """The header's "Open handoffs", lazily: an htmx fragment without the header costs no
    query."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"my_load": SimpleLazyObject(lambda: load_of(user.pk))}
