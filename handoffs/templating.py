"""Fill placeholders: a message template's when an agent inserts it, a system message's
(transfer, assign) when it is sent to the user.

Deliberately plain string work, not the Django template engine: user variables come from the
bot (ultimately from the end user), so nothing in them or in the template is ever evaluated.
"""

from __future__ import annotations

import re

from agents.models import display_name
from handoffs.naming import display_user_name, is_anonymous, render_value

# A placeholder is a dotted name in double braces, spaces allowed inside: {{ user.plan }}.
# Anything else in braces ({{ 7*7 }}, {% if %}) is not a placeholder and stays as written.
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_$][\w$-]*(?:\.[\w$-]+)*)\s*\}\}")
# The user's name: spoken to, so when it is unknown only it goes, with the comma that set it
# off ("Hello {{fullName}}, I am here to help." -> "Hello, I am here to help.").
USER_NAME = frozenset({"fullName", "user.fullName"})


def render_message_template(*, text: str, end_user, agent) -> str:
    """Replace {{user.<path>}} ({{fullName}} too) and {{agent.firstName|lastName|name}}.

    A placeholder without a value goes with the text around it (fill_placeholders)."""

    def resolve(name: str) -> str:
        if name in USER_NAME:
            return user_name(end_user)
        root, _, path = name.partition(".")
        if root == "user" and end_user is not None:
            return _user_value(end_user, path)
        if root == "agent" and agent is not None:
            return _agent_value(agent, path)
        return ""

    return fill_placeholders(text, resolve)


def user_name(end_user) -> str:
    """The user's name as agents see it (handoffs.naming), but never "Anonymous User": said to
    the user, no name reads better than that one."""
    if end_user is None:
        return ""
    return "" if is_anonymous(end_user) else display_user_name(end_user)


def _user_value(end_user, path: str) -> str:
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

# The names system messages are given; any other placeholder is the user's ({{fullName}},
# {{user.<variable>}}) or unknown.
SYSTEM_NAMES = ("agentName", "queuePosition", "estimatedWait")
SYSTEM_PLACEHOLDER = PLACEHOLDER
# A sentence ends with . ! ? or … followed by white space, or with a line break.
_SENTENCE_BREAK = re.compile(r"((?<=[.!?…])[ \t]+|[ \t]*\n+[ \t]*)")
_SENTENCE_END = re.compile(r"[.!?…]*$")
_PARENTHESES = re.compile(r"[ \t]*\([^()]*\)")
_CLAUSE_BREAK = re.compile(r"([,;])")
# The user's name placeholder with the comma before it and the comma after it, if any.
_SET_OFF = re.compile(
    r"(?P<lead>[ \t]*,)?[ \t]*\{\{\s*(?:user\.)?fullName\s*\}\}(?P<trail>[ \t]*,)?"
)


def fill_system_message(text: str, values: dict[str, str], *, end_user=None) -> str:
    """Fill {{agentName}}, {{queuePosition}} and {{estimatedWait}} from `values`, and the
    user's {{fullName}} and {{user.<variable>}} from `end_user`; anything else is unknown and
    renders empty, as does a name missing from `values`."""

    def resolve(name: str) -> str:
        if name in SYSTEM_NAMES:
            return values.get(name, "")
        if name in USER_NAME:
            return user_name(end_user)
        root, _, path = name.partition(".")
        if root == "user" and end_user is not None:
            return _user_value(end_user, path)
        return ""

    return fill_placeholders(text, resolve)


def fill_placeholders(text: str, resolve) -> str:
    """Replace each placeholder by resolve(name), in one pass (a value is never read again).

    An empty value would leave a hole ("Hello , I am here to help.", "Estimated wait: ."), so
    where a placeholder renders empty, the text around it goes with it:
    - the user's name, spoken to, goes alone, with the comma setting it off: "Hello
      {{fullName}}, I am here to help." becomes "Hello, I am here to help.";
    - any other takes the parentheses holding it if any, else its clause (the part of the
      sentence between commas or semicolons), else its whole sentence: "You are number 3 in
      line, estimated wait {{estimatedWait}}." becomes "You are number 3 in line.".
    Runs of spaces are then made one.
    """
    values: dict[str, str] = {}
    for name in PLACEHOLDER.findall(text):
        if name not in values:
            values[name] = resolve(name)
    if not values:
        return text
    empty = {name for name, value in values.items() if not value}
    if empty:
        parts = _SENTENCE_BREAK.split(text)
        kept: list[str] = []
        for index in range(0, len(parts), 2):
            sentence = _drop_holes(_drop_names(parts[index], empty), empty)
            if sentence:
                if kept:
                    kept.append(parts[index - 1])
                kept.append(sentence)
        text = "".join(kept)
    filled = PLACEHOLDER.sub(lambda match: values.get(match.group(1), ""), text)
    return re.sub(r"[ \t]{2,}", " ", filled).strip()


def _drop_names(sentence: str, empty: set[str]) -> str:
    """The user's name, when it has no value, out of the sentence with its comma."""
    if not USER_NAME & empty:
        return sentence
    opened = False

    def cut(match: re.Match) -> str:
        nonlocal opened
        if not sentence[: match.start()].strip():
            opened = True  # "{{fullName}}, your order..." -> "Your order..."
            return ""
        rest = sentence[match.end() :].lstrip()
        if match.group("trail") or (match.group("lead") and rest[:1].isalnum()):
            return ","  # "Hello {{fullName}}, I" / "Hello, {{fullName}} I" -> "Hello, I"
        return ""  # "Thanks, {{fullName}}!" -> "Thanks!"

    kept = _SET_OFF.sub(cut, sentence).strip()
    if not any(char.isalnum() for char in PLACEHOLDER.sub("x", kept)):
        return ""  # nothing but the name: "{{fullName}}!"
    return kept[:1].upper() + kept[1:] if opened else kept


def _drop_holes(sentence: str, empty: set[str]) -> str:
    def has_hole(part: str) -> bool:
        return any(name in empty for name in PLACEHOLDER.findall(part))

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
