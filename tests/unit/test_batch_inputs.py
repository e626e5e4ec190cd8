"""Batch input parsing: every line checked before anything is sent, problems with line numbers."""

from __future__ import annotations

import json

import pytest

from mscli.batch.inputs import Defaults, parse


def _parse(text: str, *, plain: bool = False, defaults: Defaults | None = None, model: str = "m0"):
    asked: list[int] = []

    def default_model() -> str:
        asked.append(1)
        return model

    lines, invalid = parse(
        text, plain=plain, defaults=defaults or Defaults(), default_model=default_model
    )
    return lines, invalid, len(asked)


def test_prompt_and_messages_lines_with_ids_defaulting_to_the_line_number() -> None:
    text = "\n".join(
        [
            json.dumps({"prompt": "one"}),
            "",
            json.dumps({"id": "b", "messages": [{"role": "user", "content": "two"}], "model": "x"}),
        ]
    )
    lines, invalid, asked = _parse(text)
    assert invalid == []
    assert [(ln.number, ln.id) for ln in lines] == [(1, 1), (3, "b")]
    assert lines[0].messages == [{"role": "user", "content": "one"}]
    assert lines[0].model == "m0" and lines[1].model == "x"
    assert asked == 1  # asked once, for the line without a model


def test_command_line_values_are_defaults_that_lines_override() -> None:
    text = "\n".join(
        [
            json.dumps({"prompt": "a"}),
            json.dumps({"prompt": "b", "model": "own", "temperature": 0.1, "system": "mine"}),
        ]
    )
    d = Defaults(model="cli", system="sys", temperature=1.5, max_tokens=7)
    lines, invalid, asked = _parse(text, defaults=d)
    assert invalid == [] and asked == 0  # -m given: the configured default is never looked up
    a, b = lines
    assert a.model == "cli" and a.params == {"temperature": 1.5, "max_tokens": 7}
    assert a.messages[0] == {"role": "system", "content": "sys"}
    assert b.model == "own" and b.params == {"temperature": 0.1, "max_tokens": 7}
    assert b.messages[0] == {"role": "system", "content": "mine"}


def test_plain_lines_are_one_prompt_each() -> None:
    lines, invalid, _ = _parse('first {"not": "json"}\n\nthird\n', plain=True)
    assert invalid == []
    assert [(ln.id, ln.messages[-1]["content"]) for ln in lines] == [
        (1, 'first {"not": "json"}'),
        (3, "third"),
    ]


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"id": 1}', "needs prompt"),
        ('{"prompt": "a", "messages": []}', "not both"),
        ('{"prompt": ""}', "prompt must be a non-empty string"),
        ('{"prompt": "a", "promt": "b"}', "unknown field 'promt'"),
        ('{"prompt": "a", "temperature": 3}', "temperature must be between 0 and 2"),
        ('{"prompt": "a", "temperature": NaN}', "not valid JSON"),
        ('{"prompt": "a", "top_p": "high"}', "top_p must be a number"),
        ('{"prompt": "a", "max_tokens": 0}', "max_tokens must be a whole number"),
        ('{"prompt": "a", "max_tokens": true}', "max_tokens must be a whole number"),
        ('{"prompt": "a", "stop": ["1", "2", "3", "4", "5"]}', "stop must be"),
        ('{"prompt": "a", "id": 1.5}', "id must be"),
        ('{"prompt": "a", "model": ""}', "model must be a non-empty string"),
        ('{"messages": [{"role": "bot", "content": "x"}]}', "messages[0] must be"),
        ('{"messages": [{"role": "system", "content": "x"}]}', "must not end with a system"),
        (
            '{"system": "s", "messages": [{"role": "system", "content": "x"}, '
            '{"role": "user", "content": "y"}]}',
            "system is given twice",
        ),
    ],
)
def test_each_malformed_line_is_reported_with_its_number(raw: str, needle: str) -> None:
    text = json.dumps({"prompt": "fine"}) + "\n" + raw + "\n"
    lines, invalid, _ = _parse(text)
    assert [ln.number for ln in lines] == [1]
    assert len(invalid) == 1 and invalid[0].number == 2
    assert needle in str(invalid[0]) and str(invalid[0]).startswith("line 2: ")


def test_a_repeated_id_is_invalid_on_its_second_line() -> None:
    text = "\n".join(json.dumps({"id": i, "prompt": "p"}) for i in ("a", "b", "a"))
    lines, invalid, _ = _parse(text)
    assert [ln.id for ln in lines] == ["a", "b"]
    assert [(i.number, i.message) for i in invalid] == [(3, 'id "a" is already used on line 1')]


def test_an_invalid_line_keeps_its_own_id_when_it_has_one() -> None:
    _, invalid, _ = _parse('{"id": "x7", "prompt": 5}\n{"prompt": 5}\n')
    assert [i.id for i in invalid] == ["x7", 2]


def test_ids_3_and_string_3_are_different() -> None:
    text = '{"id": 3, "prompt": "a"}\n{"id": "3", "prompt": "b"}\n'
    lines, invalid, _ = _parse(text)
    assert invalid == [] and [ln.id for ln in lines] == [3, "3"]
