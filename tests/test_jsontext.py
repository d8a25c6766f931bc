"""jsontext.loads reads what jsontext.dumps (or json.dumps) wrote exactly as json.loads does."""

import json

import pytest

from ordo.engine import jsontext


@pytest.mark.parametrize("text", [
    "{}", "[]", '{"visit": 1}', '{"a": 1, "a": 2}', '{"x": 1.1, "y": -0.0, "z": 1e400}',
    '{"big": 123456789012345678901234567890}', "-9500000000000000000", "18446744073709551616",
    '[NaN, Infinity, -Infinity]', '"\\ud800"', '{"s": "caf\\u00e9", "n": null, "t": true}',
])
def test_loads_as_json(text: str) -> None:
    mine, theirs = jsontext.loads(text), json.loads(text)
    assert repr(mine) == repr(theirs)
    assert [type(v) for v in (mine.values() if isinstance(mine, dict) else [mine])] == \
        [type(v) for v in (theirs.values() if isinstance(theirs, dict) else [theirs])]


def test_round_trip() -> None:
    value = {"seq": 3, "last_approvers": ["mia"], "amount": 2**70, "when": "2024-05-01 10:00:00"}
    assert jsontext.loads(jsontext.dumps(value)) == json.loads(jsontext.dumps(value)) == value


def test_invalid_text_raises_as_json() -> None:
    with pytest.raises(json.JSONDecodeError):
        jsontext.loads("{bad")
