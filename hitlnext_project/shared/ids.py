"""Reading ids and cursors from query strings and socket frames: one parser, so a crafted value
("²", "99999999999999999999", "-1") is a clear refusal everywhere, never a 500."""

from __future__ import annotations

# Primary keys are bigints: anything larger cannot name a row.
ID_MAX = 2**63 - 1


def parse_id(value: object) -> int | None:
    """A positive id from an int or a string of ASCII digits; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and 0 < len(value) <= 19 and value.isascii() and value.isdigit():
        number = int(value)
    else:
        return None
    return number if 0 < number <= ID_MAX else None
