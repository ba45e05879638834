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


# --- System messages ---------------------------------------------------------------------

# The placeholders of system messages (SystemMessage.text), spaces allowed inside the braces.
SYSTEM_PLACEHOLDER = re.compile(r"\{\{\s*(agentName|queuePosition|estimatedWait)\s*\}\}")
# A sentence ends with . ! ? or … followed by white space, or with a line break.
_SENTENCE_BREAK = re.compile(r"((?<=[.!?…])[ \t]+|[ \t]*\n+[ \t]*)")
_SENTENCE_END = re.compile(r"[.!?…]*$")
_PARENTHESES = re.compile(r"[ \t]*\([^()]*\)")
_CLAUSE_BREAK = re.compile(r"([,;])")


def fill_system_message(text: str, values: dict[str, str]) -> str:
    """Fill {{agentName}}, {{queuePosition}} and {{estimatedWait}}; a name missing from
    `values` renders empty.

    An empty value would leave a sentence with a hole ("Estimated wait: ."), so where a
    placeholder renders empty, the text around it goes with it: the parentheses holding it if
    any, else its clause (the part of the sentence between commas or semicolons), else its
    whole sentence. "You are number 3 in line, estimated wait {{estimatedWait}}." becomes
    "You are number 3 in line." when the wait is not known. Runs of spaces are then made one.
    """
    empty = {name for name in SYSTEM_PLACEHOLDER.findall(text) if not values.get(name)}
    if empty:
        parts = _SENTENCE_BREAK.split(text)
        kept: list[str] = []
        for index in range(0, len(parts), 2):
            sentence = _drop_holes(parts[index], empty)
            if sentence:
                if kept:
                    kept.append(parts[index - 1])
                kept.append(sentence)
        text = "".join(kept)
    filled = SYSTEM_PLACEHOLDER.sub(lambda match: values.get(match.group(1), ""), text)
    return re.sub(r"[ \t]{2,}", " ", filled).strip()


def _drop_holes(sentence: str, empty: set[str]) -> str:
    def has_hole(part: str) -> bool:
        return any(name in empty for name in SYSTEM_PLACEHOLDER.findall(part))

    if not has_hole(sentence):
        return sentence
    end = _SENTENCE_END.search(sentence)
    assert end is not None  # the pattern matches the empty string at the end
    body, mark = sentence[: end.start()], end.group()
    body = _PARENTHESES.sub(lambda match: "" if has_hole(match.group()) else match.group(), body)
    clauses = _CLAUSE_BREAK.split(body)
    kept = ""
    for index in range(0, len(clauses), 2):
        if not has_hole(clauses[index]) and clauses[index].strip():
            kept += (clauses[index - 1] if kept else "") + clauses[index]
    kept = kept.strip()
    if kept and has_hole(clauses[0]):
        kept = kept[:1].upper() + kept[1:]  # it starts the sentence now
    return kept + mark if kept else ""
