"""How agents see an end user: a display name, an email, and the user's variables as lines."""

from __future__ import annotations

import hashlib
import json

from django.conf import settings
from django.utils.translation import gettext, gettext_noop

# A user without a name, when generated names are off: in the agent's language. Pushed
# fragments mark it for each page's (the `anonymous` template filter, personalize.js).
ANONYMOUS = gettext_noop("Anonymous User")

# 64 of each: 4096 names, enough that two users waiting at once rarely share one.
ADJECTIVES = (
    "Agile", "Amber", "Ancient", "Azure", "Bold", "Brave", "Bright", "Brisk",
    "Calm", "Clever", "Cosmic", "Crimson", "Curious", "Daring", "Dusty", "Eager",
    "Early", "Electric", "Emerald", "Fancy", "Fearless", "Fluffy", "Friendly", "Gentle",
    "Giant", "Golden", "Graceful", "Happy", "Hidden", "Honest", "Humble", "Icy",
    "Jolly", "Kind", "Lively", "Lucky", "Lunar", "Mellow", "Merry", "Mighty",
    "Misty", "Modest", "Noble", "Patient", "Polite", "Proud", "Quick", "Quiet",
    "Rapid", "Rosy", "Rustic", "Scarlet", "Shiny", "Silent", "Silver", "Sleepy",
    "Smooth", "Snowy", "Solar", "Sunny", "Swift", "Tidy", "Velvet", "Witty",
)  # fmt: skip
ANIMALS = (
    "Albatross", "Alpaca", "Badger", "Beaver", "Bison", "Bobcat", "Camel", "Caribou",
    "Cheetah", "Cobra", "Condor", "Coyote", "Crane", "Dingo", "Dolphin", "Eagle",
    "Elk", "Falcon", "Ferret", "Finch", "Flamingo", "Fox", "Gazelle", "Gecko",
    "Giraffe", "Gorilla", "Hedgehog", "Heron", "Hippo", "Ibis", "Iguana", "Jackal",
    "Jaguar", "Koala", "Lemur", "Leopard", "Llama", "Lynx", "Magpie", "Manatee",
    "Marmot", "Meerkat", "Mole", "Moose", "Narwhal", "Ocelot", "Octopus", "Otter",
    "Owl", "Panda", "Panther", "Pelican", "Penguin", "Puffin", "Quokka", "Raccoon",
    "Raven", "Salmon", "Seal", "Sparrow", "Tiger", "Toucan", "Walrus", "Wombat",
)  # fmt: skip


def generated_name(*, bot_id: int, external_id: str) -> str:
    """A two-word name derived from the user's identity only, so every agent, page and
    device shows the same one without storing it. sha256 rather than hash(): Python's string
    hash is salted per process."""
    digest = hashlib.sha256(f"{bot_id}:{external_id}".encode()).digest()
    return f"{ADJECTIVES[digest[0] % len(ADJECTIVES)]} {ANIMALS[digest[1] % len(ANIMALS)]}"


def display_user_name(end_user) -> str:
    """fullName, else a generated name when HITLNEXT_DEFAULT_USERNAME is on, else anonymous."""
    full_name = end_user.full_name.strip()
    if full_name:
        return full_name
    if settings.HITLNEXT_DEFAULT_USERNAME:
        return generated_name(bot_id=end_user.bot_id, external_id=end_user.external_id)
    return gettext(ANONYMOUS)


def is_anonymous(end_user) -> bool:
    """Whether the user is shown as ANONYMOUS (no name, no generated one)."""
    return not end_user.full_name.strip() and not settings.HITLNEXT_DEFAULT_USERNAME


def name_context(end_user) -> dict[str, object]:
    """What a template showing the user's messages needs of their name."""
    return {
        "user_display_name": display_user_name(end_user),
        "user_anonymous": is_anonymous(end_user),
    }


def user_email(end_user) -> str | None:
    variables = end_user.variables if isinstance(end_user.variables, dict) else {}
    email = variables.get("email")
    if isinstance(email, str) and email.strip():
        return email.strip()
    return None


def render_value(value) -> str:
    """Strings as they are; everything else as JSON (true, 42, null, ["a", "b"])."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def flatten_variables(variables) -> list[tuple[str, str]]:
    """Every variable as a (dotted key, text) line, sorted by key.

    Nested objects become dotted keys (address.city); lists stay one JSON value, since
    indices as keys (tags.0, tags.1) read worse than ["a", "b"].
    """
    if not isinstance(variables, dict) or not variables:
        return []
    lines: list[tuple[str, str]] = []

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict) and value:
            for key, child in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), child)
        else:
            lines.append((prefix, render_value(value)))

    walk("", variables)
    return sorted(lines, key=lambda line: line[0])
