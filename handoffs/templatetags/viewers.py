"""{% conversation_viewers conversation_id %}: the panel's "Also viewing" list as it is now
(handoffs/viewers.py keeps it live)."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

from handoffs.viewers import render_viewers

register = template.Library()


@register.simple_tag
def conversation_viewers(conversation_id: int) -> SafeString:
    try:
        html = render_viewers(conversation_id)
    except Exception:  # a Redis outage must not break the panel: the next push fills it
        html = (
            f'<ul id="conversation-{int(conversation_id)}-viewers" class="viewers"'
            ' aria-label="Also viewing"></ul>'
        )
    return mark_safe(html)  # noqa: S308 (rendered by a template, which escapes)
