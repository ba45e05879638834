"""The README's operations commands run as written: the virtualenv's Python (a bare `python`
is the system's, without Django), commands and options that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.management import get_commands, load_command_class

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
COMMANDS = [
    usage
    for usage in re.findall(r"`\.venv/bin/python manage\.py ([^`]+)`", README)
    if usage != "…"  # the sentence introducing them
]


def test_the_readme_runs_manage_py_with_the_virtualenvs_python():
    bare = re.findall(r"`python3? manage\.py [^`]*`", README)

    # The one bare form is the sentence saying it works inside an activated virtualenv.
    assert bare == ["`python manage.py …`"]
    assert len(COMMANDS) >= 8


@pytest.mark.parametrize("usage", COMMANDS)
def test_each_command_and_option_in_the_readme_exists(usage):
    name, *words = usage.split()
    commands = get_commands()
    assert name in commands, name
    parser = load_command_class(commands[name], name).create_parser("manage.py", name)

    for word in words:
        option = word.strip("[]").split("=")[0]
        if option.startswith("--"):
            assert option in parser._option_string_actions, (name, option)
