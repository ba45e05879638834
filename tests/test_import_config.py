from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError

from handoffs.models import Label, MessageTemplate, SystemMessage
from tests.factories import LabelFactory

pytestmark = pytest.mark.django_db

SAMPLE = Path(django_settings.BASE_DIR) / "examples" / "botpress-hitlnext.json"


def run(*args) -> str:
    out = StringIO()
    call_command("import_hitlnext_config", *map(str, args), stdout=out)
    return out.getvalue()


def write(tmp_path, data) -> Path:
    path = tmp_path / "hitlnext.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def snapshot():
    return (
        sorted(Label.objects.values_list("name", "color")),
        sorted(MessageTemplate.objects.values_list("name", "text")),
        sorted(SystemMessage.objects.values_list("kind", "language", "text")),
    )


def test_sample_file_creates_labels_templates_and_system_messages():
    out = run(SAMPLE)

    assert sorted(Label.objects.values_list("name", flat=True)) == ["billing", "shipping", "vip"]
    assert MessageTemplate.objects.get(name="hello").text == (
        "Hello {{user.fullName}}, I'm {{agent.firstName}}. How can I help?"
    )
    assert MessageTemplate.objects.count() == 3
    assert SystemMessage.objects.get(kind="assign", language="de").text == (
        "{{agentName}} kümmert sich jetzt um Sie."
    )
    # The migration's English assign default is replaced; French matches it already.
    assert SystemMessage.objects.get(kind="assign", language="en").text == (
        "You are now chatting with {{agentName}}."
    )
    assert "labels: 3 created, 0 updated, 0 unchanged" in out
    assert "message templates: 3 created, 0 updated, 0 unchanged" in out
    assert "system messages: 2 created, 1 updated, 3 unchanged" in out


def test_sample_file_reports_environment_settings():
    lines = run(SAMPLE).splitlines()

    for line in [
        "HITLNEXT_AGENT_SESSION_TIMEOUT=15m",
        "HITLNEXT_MESSAGE_COUNT=20",
        "HITLNEXT_HANDOFF_ALERT=3m",
        "HITLNEXT_DEFAULT_USERNAME=true",
        "HITLNEXT_ENABLE_CONVERSATION_DELETION=false",
        "HITLNEXT_AUTOCOMPLETE_TRIGGER=:",
    ]:
        assert line in lines


def test_second_run_changes_nothing():
    run(SAMPLE)
    before = snapshot()

    out = run(SAMPLE)

    assert snapshot() == before
    assert "labels: 0 created, 0 updated, 3 unchanged" in out
    assert "message templates: 0 created, 0 updated, 3 unchanged" in out
    assert "system messages: 0 created, 0 updated, 6 unchanged" in out


def test_existing_rows_are_updated_not_duplicated_and_label_colours_kept(tmp_path):
    LabelFactory(name="vip", color="#ff0000")
    MessageTemplate.objects.create(name="bye", text="old text")

    out = run(SAMPLE)

    assert Label.objects.get(name="vip").color == "#ff0000"
    assert MessageTemplate.objects.get(name="bye").text == (
        "Thanks for reaching out, have a nice day!"
    )
    assert "labels: 2 created, 0 updated, 1 unchanged" in out
    assert "message templates: 2 created, 1 updated, 0 unchanged" in out


def test_dry_run_writes_nothing_but_reports_the_plan():
    before = snapshot()

    out = run(SAMPLE, "--dry-run")

    assert snapshot() == before
    assert "labels: 3 created" in out
    assert "Dry run: nothing was written." in out
    assert "HITLNEXT_MESSAGE_COUNT=20" in out


def test_bot_default_language_is_taken_from_the_file(tmp_path, bot):
    path = write(tmp_path, {"defaultLanguage": "fr", "tags": ["a"]})

    out = run(path, "--bot", bot.name)
    bot.refresh_from_db()
    again = run(path, "--bot", bot.name)

    assert bot.default_language == "fr"
    assert "default language set to 'fr'" in out
    assert "default language already 'fr'" in again


def test_bot_is_left_alone_without_a_default_language(bot):
    out = run(SAMPLE, "--bot", bot.name, "--dry-run")

    bot.refresh_from_db()
    assert bot.default_language == "en"
    assert "(the file has no defaultLanguage)" in out


def test_unknown_bot_is_an_error():
    with pytest.raises(CommandError, match="No bot named 'ghost'"):
        run(SAMPLE, "--bot", "ghost")
    assert not Label.objects.exists()


def test_durations_in_botpress_ms_format_become_hitlnext_settings(tmp_path):
    cases = {"2 hours": "2h", "90s": "90s", "1.5h": "90m", "1d": "1d", "600000": "10m"}
    for given, expected in cases.items():
        out = run(write(tmp_path, {"agentSessionTimeout": given}))
        assert f"HITLNEXT_AGENT_SESSION_TIMEOUT={expected}" in out.splitlines()
    out = run(write(tmp_path, {"agentSessionTimeout": 30000}))
    assert "HITLNEXT_AGENT_SESSION_TIMEOUT=30s" in out.splitlines()


def test_unsupported_keys_are_reported_not_imported(tmp_path):
    data = {"botAvatarUrl": "https://x/a.png", "eventsWebHook": {"url": "https://x/hook"}}

    out = run(write(tmp_path, data))

    assert "botAvatarUrl is not imported" in out
    assert "eventsWebHook is not imported" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", r"\$: not valid JSON \(.* line 1, column 2\)"),
        ("[1, 2]", r"\$: expected an object, got a list"),
        ({"tags": "billing"}, r"\$\.tags: expected a list of strings, got a string"),
        ({"tags": ["ok", 3]}, r"\$\.tags\[1\]: expected a string, got a number"),
        (
            {
                "autoComplete": {
                    "trigger": ":",
                    "shortcuts": [{"name": "a", "value": "x"}, {"name": "b"}],
                }
            },
            r"\$\.autoComplete\.shortcuts\[1\]\.value: missing",
        ),
        (
            {"autoComplete": {"shortcuts": [{"name": "a", "value": 5}]}},
            r"\$\.autoComplete\.shortcuts\[0\]\.value: expected a string, got a number",
        ),
        (
            {
                "autoComplete": {
                    "shortcuts": [{"name": "a", "value": "x"}, {"name": "a", "value": "y"}]
                }
            },
            r"\$\.autoComplete\.shortcuts\[1\]\.name: duplicate shortcut name 'a'",
        ),
        ({"autoComplete": ["x"]}, r"\$\.autoComplete: expected an object"),
        ({"autoComplete": {"shortcut": []}}, r"\$\.autoComplete\.shortcut: unknown key"),
        ({"transferMessage": "hi"}, r"\$\.transferMessage: expected an object"),
        ({"assignMessage": {"en": None}}, r"\$\.assignMessage\.en: expected a string, got null"),
        ({"messageCount": "10"}, r"\$\.messageCount: expected a whole number, got a string"),
        ({"messageCount": True}, r"\$\.messageCount: expected a whole number, got a boolean"),
        ({"defaultUsername": "yes"}, r"\$\.defaultUsername: expected true or false"),
        ({"agentSessionTimeout": "soon"}, r"\$\.agentSessionTimeout: expected a duration"),
        ({"agentSessionTimeout": "10 fortnights"}, r"\$\.agentSessionTimeout: .*unknown unit"),
        ({"botName": "x"}, r"\$\.botName: unknown key"),
    ],
)
def test_malformed_files_are_refused_naming_the_json_path(tmp_path, content, message):
    path = write(tmp_path, content)
    before = snapshot()

    with pytest.raises(CommandError, match=message) as caught:
        run(path)

    assert str(path) in str(caught.value)
    assert snapshot() == before


def test_a_file_that_cannot_be_read_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="Cannot read .*missing.json"):
        run(tmp_path / "missing.json")


def test_a_bad_entry_late_in_the_file_writes_nothing(tmp_path):
    data = {"tags": ["fine"], "transferMessage": {"en": "ok"}, "messageCount": 0}

    with pytest.raises(CommandError, match=r"\$\.messageCount: must be at least 1"):
        run(write(tmp_path, data))

    assert not Label.objects.exists()
