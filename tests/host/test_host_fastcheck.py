"""The fast argument check never says yes where jsonschema says no.

`fast_check` is only a shortcut: a False hands the verdict (and the message) to
jsonschema. So the property that matters is soundness, tried here on generated schemas
of the subset it reads and on generated JSON values; the examples show it does answer
yes for the usual arguments, so the shortcut is taken.
"""

from __future__ import annotations

from typing import Any

import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkernel.host._fastcheck import fast_check

NAMES = st.sampled_from(["a", "b", "n", "text", "é"])
TYPES = st.sampled_from(["object", "array", "string", "boolean", "null", "number", "integer"])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0.0, 1.0, -2.0, 2.5])
    | st.text(max_size=3)
    | st.sampled_from(["a", "b", "red"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(NAMES, inner, max_size=3),
    max_leaves=8,
)


def schemas() -> st.SearchStrategy[dict[str, Any]]:
    def extend(inner: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
        return st.fixed_dictionaries(
            {},
            optional={
                "type": TYPES | st.lists(TYPES, max_size=3),
                "properties": st.dictionaries(NAMES, inner, max_size=3),
                "required": st.lists(NAMES, max_size=2, unique=True),
                "additionalProperties": st.booleans(),
                "items": inner,
                "enum": st.lists(st.sampled_from(["a", "b", "red", ""]), max_size=3),
                "description": st.text(max_size=5),
                "format": st.sampled_from(["email", "uri", "date-time"]),
            },
        )

    return st.recursive(st.fixed_dictionaries({}, optional={"type": TYPES}), extend, max_leaves=6)


@settings(max_examples=400, deadline=None)
@given(schema=schemas(), value=json_values)
def test_a_fast_yes_is_always_a_jsonschema_yes(schema: dict[str, Any], value: Any) -> None:
    if fast_check(schema)(value):
        assert jsonschema.Draft202012Validator(schema).is_valid(value), (schema, value)


SIMPLE = {
    "type": "object",
    "properties": {
        "x": {"type": "integer", "description": "a count"},
        "names": {"type": "array", "items": {"type": "string"}},
        "mode": {"type": "string", "enum": ["fast", "slow"]},
        "ratio": {"type": ["number", "null"]},
    },
    "required": ["x"],
    "additionalProperties": False,
}


def test_the_usual_arguments_are_passed_without_jsonschema() -> None:
    check = fast_check(SIMPLE)
    assert check({"x": 1})
    assert check({"x": 2.0, "names": ["a", "b"], "mode": "slow", "ratio": None})


def test_arguments_it_cannot_vouch_for_go_to_jsonschema() -> None:
    check = fast_check(SIMPLE)
    assert not check({})  # x is required
    assert not check({"x": True})  # a bool is no integer
    assert not check({"x": 1, "other": 1})  # no additional properties
    assert not check({"x": 1, "mode": "medium"})
    assert not check({"x": 1, "names": [1]})


def test_schemas_beyond_its_subset_always_go_to_jsonschema() -> None:
    for schema in [
        {"type": "integer", "minimum": 3},
        {"$schema": "http://json-schema.org/draft-03/schema#", "type": "integer"},
        {"anyOf": [{"type": "string"}]},
        {"properties": {"a": {"$ref": "#/$defs/a"}}},
        {"enum": [1, 2]},
        {"additionalProperties": {"type": "string"}},
        True,
    ]:
        assert not fast_check(schema)(5)
