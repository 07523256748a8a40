"""The one todo text rule: which characters a todo may hold, and the reason when it may not."""

from __future__ import annotations

import json

import msgspec
import pytest

from shared_contracts.asyncapi import payload_schemas
from shared_contracts.todos import CreateTodo, TodoTextError, validate_todo_text


@pytest.mark.parametrize(
    ("text", "reason", "found"),
    [
        ("a\x00b", "text_contains_nul", "U+0000 at character 2"),
        ("\x00", "text_contains_nul", "U+0000 at character 1"),
        ("a\ud800b", "text_contains_lone_surrogate", "U+D800 at character 2"),
        ("ab\udfff", "text_contains_lone_surrogate", "U+DFFF at character 3"),
        ("ring\x07", "text_contains_control_character", "U+0007 at character 5"),
        ("a\x1b[31mred", "text_contains_control_character", "U+001B at character 2"),
        ("a\x0bb", "text_contains_control_character", "U+000B at character 2"),
        ("a\x7fb", "text_contains_control_character", "U+007F at character 2"),
        ("a\x85b", "text_contains_control_character", "U+0085 at character 2"),
        ("a\x9fb", "text_contains_control_character", "U+009F at character 2"),
    ],
)
def test_characters_no_page_or_database_can_hold_are_refused_with_their_own_reason(
    text: str, reason: str, found: str
) -> None:
    with pytest.raises(TodoTextError) as failure:
        validate_todo_text(text)

    assert failure.value.reason == reason
    assert failure.value.message.endswith(found)


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("buy\tmilk", "buy\tmilk"),
        ("buy\nmilk\r\nand bread", "buy\nmilk\r\nand bread"),
        ("  \x0b\x0c\x85 spaced out \u2028 ", "spaced out"),
        ("family 👨\u200d👩\u200d👧 and 👍🏽", "family 👨\u200d👩\u200d👧 and 👍🏽"),
        ("naïve café ½ 日本語 \U0001f600", "naïve café ½ 日本語 \U0001f600"),
        ("right\u200fto\u202eleft", "right\u200fto\u202eleft"),
    ],
)
def test_ordinary_text_and_whitespace_are_kept_and_only_the_ends_trimmed(
    text: str, stored: str
) -> None:
    assert validate_todo_text(text) == stored


def test_what_the_text_holds_is_judged_before_its_length() -> None:
    with pytest.raises(TodoTextError) as failure:
        validate_todo_text("a" * 200 + "\x00")

    assert failure.value.reason == "text_contains_nul"


def test_the_message_never_repeats_the_refused_text() -> None:
    with pytest.raises(TodoTextError) as failure:
        validate_todo_text("secret\x00value")

    assert "secret" not in failure.value.message
    assert "\x00" not in failure.value.message
    failure.value.message.encode("ascii")


def test_a_command_decoded_from_json_obeys_the_same_rule() -> None:
    data = json.loads('{"text": "a\\ud800b"}')

    with pytest.raises(TodoTextError) as failure:
        CreateTodo.from_data(data)

    assert failure.value.reason == "text_contains_lone_surrogate"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"text": None}, "missing_text"),
        ({"text": 3}, "text_not_string"),
        ({"text": " "}, "empty_text"),
        ({"text": "x" * 141}, "text_too_long"),
    ],
)
def test_a_commands_text_is_refused_with_the_rules_reason_whatever_its_type(
    data: object, reason: str
) -> None:
    with pytest.raises(TodoTextError) as failure:
        CreateTodo.from_data(data)

    assert failure.value.reason == reason


@pytest.mark.parametrize("data", [{}, {"txt": "typo"}, ["a"], "a", None])
def test_data_that_is_no_command_at_all_is_a_validation_error(data: object) -> None:
    with pytest.raises(msgspec.ValidationError):
        CreateTodo.from_data(data)


def test_a_command_holds_its_text_trimmed_and_ignores_unknown_fields() -> None:
    padded = "  " + "x" * 140 + "\n"

    assert CreateTodo.from_data({"text": padded, "priority": 1}).text == "x" * 140
    assert CreateTodo(text=" built here ").text == "built here"


def test_the_command_schema_tells_publishers_the_rule() -> None:
    text = payload_schemas([CreateTodo])["CreateTodo"]["properties"]["text"]

    assert (text["minLength"], text["maxLength"]) == (1, 140)
    assert "no NUL, no lone surrogates" in text["description"]
