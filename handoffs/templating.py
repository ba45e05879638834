"""Fill a message template's placeholders when an agent inserts it.

Deliberately plain string work, not the Django template engine: user variables come from the
bot (ultimately from the end user), so nothing in them or in the template is ever evaluated.
"""

from __future__ import annotations

import re

from agents.models import display_name
from handoffs.naming import display_user_name, render_value

# A placeholder is a dotted name in double braces, spaces allowed inside: {{ user.plan }}.
# Anything else in braces ({{ 7*7 }}, {% if %}) is not a placeholder and stays as written.
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_$][\w$-]*(?:\.[\w$-]+)*)\s*\}\}")


def render_message_template(*, text: str, end_user, agent) -> str:
    """Replace {{user.<path>}} and {{agent.firstName|lastName|name}}; unknown ones become ""."""

    def replace(match: re.Match) -> str:
        root, _, path = match.group(1).partition(".")
        if root == "user" and end_user is not None:
            return _user_value(end_user, path)
        if root == "agent" and agent is not None:
            return _agent_value(agent, path)
        return ""

    # One pass of re.sub: substituted values are never scanned again, so a variable holding
    # "{{agent.name}}" is shown as typed.
    return PLACEHOLDER.sub(replace, text)


def _user_value(end_user, path: str) -> str:
    if path == "fullName":
        return display_user_name(end_user)
    value = end_user.variables if isinstance(end_user.variables, dict) else {}
    for key in path.split(".") if path else ():
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return ""
    if value is None or not path:
        return ""
    return render_value(value)


def _agent_value(agent, path: str) -> str:
    if path == "firstName":
        return agent.first_name
    if path == "lastName":
        return agent.last_name
    if path == "name":
        return display_name(agent)
    return ""
