"""Text no database here can store: NUL (PostgreSQL text and jsonb refuse it) and unpaired
UTF-16 surrogates ("\\ud800" is valid JSON but no valid Unicode, so it cannot be encoded).
Every entry point that takes text from outside checks it, so it fails clearly, not as a 500."""

from __future__ import annotations

import re

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def check_storable(text: str) -> str:
    """Return the text, or raise ValueError naming the problem."""
    if UNSTORABLE.search(text):
        raise ValueError("The text contains characters that cannot be stored (NUL or similar).")
    return text
