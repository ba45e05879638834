"""Read a Botpress v12 HITL-next config (`hitlnext.json`) for teams migrating to hitlnext.

Its shape (botpress/botpress modules/hitlnext/src/config.ts):
    agentSessionTimeout: "10m"            messageCount: 10          handoffAlert: 5 (minutes)
    defaultUsername: false                enableConversationDeletion: false
    tags: ["billing", ...]                botAvatarUrl, eventsWebHook: {url, headers}
    autoComplete: {trigger: ":", shortcuts: [{name, value}]}
    transferMessage / assignMessage: {"en": "...{{agentName}}...", ...}

What the database holds (tags, shortcuts, messages) is imported; what hitlnext reads from the
environment is returned as settings for the operator to set.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from handoffs.models import Label, MessageTemplate, SystemMessage

KNOWN_KEYS = {
    "$schema",
    "agentSessionTimeout",
    "autoComplete",
    "messageCount",
    "handoffAlert",
    "defaultUsername",
    "botAvatarUrl",
    "tags",
    "enableConversationDeletion",
    "transferMessage",
    "assignMessage",
    "eventsWebHook",
    # Not a hitlnext.json key: Botpress keeps it in bot.config.json. Accepted so --bot can
    # take the language from the same file.
    "defaultLanguage",
}
NOT_IMPORTED = {
    "botAvatarUrl": "hitlnext shows each agent's own avatar (their profile) instead",
    "eventsWebHook": "set the bot's webhook URL in the admin; hitlnext's events are signed "
    "and shaped differently (see the API docs)",
}
SETTINGS = (
    "HITLNEXT_AGENT_SESSION_TIMEOUT",
    "HITLNEXT_MESSAGE_COUNT",
    "HITLNEXT_HANDOFF_ALERT",
    "HITLNEXT_DEFAULT_USERNAME",
    "HITLNEXT_ENABLE_CONVERSATION_DELETION",
    "HITLNEXT_AUTOCOMPLETE_TRIGGER",
)
MESSAGE_KINDS = {"transferMessage": "transfer", "assignMessage": "assign"}


class ConfigError(ValueError):
    """The file is not a hitlnext config; the message names the JSON path at fault."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        super().__init__(f"{path}: {problem}")


@dataclass
class ImportPlan:
    labels: list[str] = field(default_factory=list)
    templates: dict[str, str] = field(default_factory=dict)
    system_messages: dict[tuple[str, str], str] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    default_language: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        return f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged"


def load_plan(path: Path) -> ImportPlan:
    # OSError (missing file, no permission) is the caller's to report: it is not about JSON.
    try:
        raw = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("$", "the file is not UTF-8 text") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ConfigError(
            "$", f"not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"
        ) from None
    return parse_config(data)


def parse_config(data) -> ImportPlan:
    """Validate the whole document first, so a bad file changes nothing."""
    if not isinstance(data, dict):
        raise ConfigError("$", f"expected an object, got {_type(data)}")
    unknown = sorted(set(data) - KNOWN_KEYS)
    if unknown:
        raise ConfigError(
            f"$.{unknown[0]}",
            "unknown key; a Botpress hitlnext.json has only " + ", ".join(sorted(KNOWN_KEYS)),
        )
    plan = ImportPlan()

    for index, name in enumerate(_list_of_strings(data, "tags")):
        name = name.strip()
        if not name or len(name) > 64:
            raise ConfigError(f"$.tags[{index}]", f"{name!r}: a tag needs 1 to 64 characters")
        if name not in plan.labels:
            plan.labels.append(name)

    if "autoComplete" in data:
        _parse_autocomplete(data["autoComplete"], plan)

    for key, kind in MESSAGE_KINDS.items():
        if key not in data:
            continue
        messages = _expect(data[key], dict, f"$.{key}", "an object of language: text")
        for language, text in messages.items():
            where = f"$.{key}.{language}"
            if not language or len(language) > 16:
                raise ConfigError(where, "a language code needs 1 to 16 characters")
            plan.system_messages[(kind, language)] = _expect(text, str, where, "a string")

    if "agentSessionTimeout" in data:
        plan.settings["HITLNEXT_AGENT_SESSION_TIMEOUT"] = _duration(
            data["agentSessionTimeout"], "$.agentSessionTimeout"
        )
    if "messageCount" in data:
        count = _expect(data["messageCount"], int, "$.messageCount", "a whole number")
        if count < 1:
            raise ConfigError("$.messageCount", "must be at least 1")
        plan.settings["HITLNEXT_MESSAGE_COUNT"] = str(count)
    if "handoffAlert" in data:
        minutes = _number(data["handoffAlert"], "$.handoffAlert")
        plan.settings["HITLNEXT_HANDOFF_ALERT"] = _format_seconds(round(minutes * 60))
    for key, setting in (
        ("defaultUsername", "HITLNEXT_DEFAULT_USERNAME"),
        ("enableConversationDeletion", "HITLNEXT_ENABLE_CONVERSATION_DELETION"),
    ):
        if key in data:
            value = _expect(data[key], bool, f"$.{key}", "true or false")
            plan.settings[setting] = "true" if value else "false"

    plan.settings = {name: plan.settings[name] for name in SETTINGS if name in plan.settings}

    if "defaultLanguage" in data:
        language = _expect(data["defaultLanguage"], str, "$.defaultLanguage", "a string")
        if not language or len(language) > 16:
            raise ConfigError("$.defaultLanguage", "a language code needs 1 to 16 characters")
        plan.default_language = language

    for key, reason in NOT_IMPORTED.items():
        if data.get(key):
            plan.notes.append(f"{key} is not imported: {reason}.")
    if "eventsWebHook" in data:
        _expect(data["eventsWebHook"], dict, "$.eventsWebHook", "an object")
    if "botAvatarUrl" in data:
        _expect(data["botAvatarUrl"], str, "$.botAvatarUrl", "a string")
    return plan


def _parse_autocomplete(value, plan: ImportPlan) -> None:
    auto = _expect(value, dict, "$.autoComplete", "an object with trigger and shortcuts")
    unknown = sorted(set(auto) - {"trigger", "shortcuts"})
    if unknown:
        raise ConfigError(f"$.autoComplete.{unknown[0]}", "unknown key (trigger, shortcuts)")
    if "trigger" in auto:
        trigger = _expect(auto["trigger"], str, "$.autoComplete.trigger", "a string")
        if not trigger.strip():
            raise ConfigError("$.autoComplete.trigger", "must not be empty")
        plan.settings["HITLNEXT_AUTOCOMPLETE_TRIGGER"] = trigger
    shortcuts = _expect(auto.get("shortcuts", []), list, "$.autoComplete.shortcuts", "a list")
    seen: dict[str, int] = {}
    for index, shortcut in enumerate(shortcuts):
        where = f"$.autoComplete.shortcuts[{index}]"
        _expect(shortcut, dict, where, 'an object like {"name": ..., "value": ...}')
        for key in ("name", "value"):
            if key not in shortcut:
                raise ConfigError(f"{where}.{key}", "missing")
            text = _expect(shortcut[key], str, f"{where}.{key}", "a string")
            if not text.strip():
                raise ConfigError(f"{where}.{key}", "must not be empty")
        name = shortcut["name"].strip()
        if len(name) > 100:
            raise ConfigError(f"{where}.name", "longer than 100 characters")
        if name in seen:
            raise ConfigError(
                f"{where}.name",
                f"duplicate shortcut name {name!r} (also at $.autoComplete.shortcuts"
                f"[{seen[name]}])",
            )
        seen[name] = index
        plan.templates[name] = shortcut["value"]


def apply_plan(plan: ImportPlan, *, bot=None) -> dict[str, Counts]:
    """Create or update rows so the database matches the plan; the caller owns the transaction.

    Idempotent: rows already equal to the plan are counted unchanged and not written.
    Labels keep their colour (the file has none); nothing absent from the file is deleted.
    """
    counts = {"labels": Counts(), "templates": Counts(), "system messages": Counts()}

    existing_labels = set(Label.objects.filter(name__in=plan.labels).values_list("name", flat=True))
    for name in plan.labels:
        if name in existing_labels:
            counts["labels"].unchanged += 1
        else:
            Label.objects.create(name=name)
            counts["labels"].created += 1

    templates = {t.name: t for t in MessageTemplate.objects.filter(name__in=list(plan.templates))}
    for name, text in plan.templates.items():
        _upsert(counts["templates"], templates.get(name), MessageTemplate, {"name": name}, text)

    messages = {(m.kind, m.language): m for m in SystemMessage.objects.all()}
    for (kind, language), text in plan.system_messages.items():
        lookup = {"kind": kind, "language": language}
        _upsert(
            counts["system messages"], messages.get((kind, language)), SystemMessage, lookup, text
        )

    if bot is not None:
        counts["bot"] = Counts()
        if plan.default_language and bot.default_language != plan.default_language:
            bot.default_language = plan.default_language
            bot.save(update_fields=["default_language"])
            counts["bot"].updated += 1
        else:
            counts["bot"].unchanged += 1
    return counts


def _upsert(counts: Counts, row, model, lookup: dict, text: str) -> None:
    if row is None:
        model.objects.create(**lookup, text=text)
        counts.created += 1
    elif row.text != text:
        row.text = text
        row.save(update_fields=["text"])
        counts.updated += 1
    else:
        counts.unchanged += 1


# --- small validators --------------------------------------------------------------------------

_JSON_TYPES = {dict: "an object", list: "a list", str: "a string", bool: "true or false"}


def _type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _expect(value, kind: type, path: str, wanted: str):
    # bool is an int in Python; JSON true is not a message count.
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok:
        raise ConfigError(path, f"expected {wanted}, got {_type(value)}")
    return value


def _list_of_strings(data: dict, key: str) -> list[str]:
    values = _expect(data.get(key, []), list, f"$.{key}", "a list of strings")
    for index, value in enumerate(values):
        _expect(value, str, f"$.{key}[{index}]", "a string")
    return values


def _number(value, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(path, f"expected a positive number, got {_type(value)}")
    return value


# Botpress parses durations with the `ms` package: "10m", "2 hours", "1.5h", a bare number
# of milliseconds. hitlnext's settings take whole seconds, minutes, hours or days.
_MS_UNITS = {
    "ms": 0.001, "msec": 0.001, "msecs": 0.001, "millisecond": 0.001, "milliseconds": 0.001,
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
}  # fmt: skip
_MS_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)\s*$", re.IGNORECASE)


def _duration(value, path: str) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000
    elif isinstance(value, str) and (match := _MS_DURATION.match(value)):
        unit = match.group(2).lower() or "ms"
        if unit not in _MS_UNITS:
            raise ConfigError(path, f"{value!r}: unknown unit {match.group(2)!r}")
        seconds = float(match.group(1)) * _MS_UNITS[unit]
    else:
        raise ConfigError(path, f'expected a duration like "10m", got {_type(value)} {value!r}')
    if seconds < 1:
        raise ConfigError(path, f"{value!r} is shorter than one second")
    return _format_seconds(round(seconds))


def _format_seconds(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
