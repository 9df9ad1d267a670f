from __future__ import annotations

import typing
from typing import Any, Literal

import pytest
import typing_extensions
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkernel.bindings._types import ModuleTypes, SchemaTyper

PRELUDE = "from typing import Any, Literal\nfrom typing_extensions import NotRequired, TypedDict\n"


def convert(schema: Any, root: Any = None) -> tuple[str, ModuleTypes]:
    types = ModuleTypes()
    typer = SchemaTyper(types, schema if root is None else root, prefix="tool")
    return typer.annotation(schema, "Value"), types


def evaluate(schema: Any, root: Any = None) -> Any:
    """Convert, then run the definitions and evaluate the annotation, as a module would."""
    annotation, types = convert(schema, root)
    namespace: dict[str, Any] = {}
    code = PRELUDE + "\n\n".join(types.definitions) + f"\n__annotation__ = {annotation}\n"
    exec(compile(code, "<schema>", "exec", dont_inherit=True), namespace)  # noqa: S102
    return namespace["__annotation__"]


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "string"}, "str"),
        ({"type": "integer"}, "int"),
        ({"type": "number"}, "float"),
        ({"type": "boolean"}, "bool"),
        ({"type": "null"}, "None"),
        ({}, "Any"),
        ({"type": "wat"}, "Any"),
        ({"type": "array", "items": {"type": "string"}}, "list[str]"),
        ({"type": "array"}, "list[Any]"),
        ({"type": "array", "prefixItems": [{"type": "string"}]}, "list[Any]"),
        ({"type": "array", "items": [{"type": "string"}]}, "list[Any]"),
        ({"type": "object"}, "dict[str, Any]"),
        ({"type": "object", "additionalProperties": {"type": "integer"}}, "dict[str, int]"),
        ({"type": ["string", "null"]}, "str | None"),
        ({"type": ["null", "integer"]}, "int | None"),
        ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, "str | int"),
        ({"oneOf": [{"type": "string"}, {}]}, "Any"),
        ({"allOf": [{"type": "boolean"}]}, "bool"),
        ({"enum": ["a", "b"]}, "Literal['a', 'b']"),
        ({"enum": ["a", None]}, "Literal['a'] | None"),
        ({"enum": [1, 2, True]}, "Literal[1, 2, True]"),
        ({"enum": [1.5, 2]}, "float"),
        ({"enum": [{"a": 1}]}, "Any"),
        ({"enum": []}, "Any"),
        ({"const": "fixed"}, "Literal['fixed']"),
        ({"anyOf": [{"const": "a"}, {"const": "b"}, {"type": "null"}]}, "Literal['a', 'b'] | None"),
        ({"oneOf": [{"enum": [1, 2]}, {"const": 3}]}, "Literal[1, 2, 3]"),
        ({"$ref": "https://example.com/schema"}, "Any"),
        ({"$ref": "#/$defs/missing"}, "Any"),
        ("not a schema", "Any"),
    ],
)
def test_schema_converts_to_annotation(schema: Any, expected: str) -> None:
    assert convert(schema)[0] == expected


def test_enum_evaluates_to_literal() -> None:
    assert evaluate({"enum": ["a", "b"]}) == Literal["a", "b"]


def test_object_with_properties_becomes_typed_dict_with_not_required_keys() -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name"],
    }
    result = evaluate(schema)
    assert typing_extensions.is_typeddict(result)
    assert result.__name__ == "ToolValue"
    assert result.__required_keys__ == frozenset({"name"})
    assert result.__optional_keys__ == frozenset({"age"})
    hints = typing.get_type_hints(result)
    assert hints == {"name": str, "age": int}


def test_non_identifier_property_names_use_the_functional_typed_dict_form() -> None:
    schema = {
        "type": "object",
        "properties": {"from": {"type": "string"}, "max-depth": {"type": "integer"}},
        "required": ["from"],
    }
    _, types = convert(schema)
    assert types.definitions[0].startswith("ToolValue = TypedDict(")
    result = evaluate(schema)
    assert result.__required_keys__ == frozenset({"from"})
    assert result.__optional_keys__ == frozenset({"max-depth"})


def test_nested_objects_get_distinct_class_names() -> None:
    inner = {"type": "object", "properties": {"x": {"type": "integer"}}}
    schema = {"type": "object", "properties": {"a": inner, "b": inner}}
    _, types = convert(schema)
    assert types.class_names == ["ToolValueA", "ToolValueB", "ToolValue"]


def test_local_refs_resolve_in_defs_and_definitions() -> None:
    root = {
        "$defs": {"Mode": {"enum": ["x", "y"]}},
        "definitions": {"Count": {"type": "integer"}},
    }
    assert convert({"$ref": "#/$defs/Mode"}, root)[0] == "Literal['x', 'y']"
    assert convert({"$ref": "#/definitions/Count"}, root)[0] == "int"


def test_recursive_ref_becomes_any_and_terminates() -> None:
    root = {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                },
            }
        }
    }
    annotation, types = convert({"$ref": "#/$defs/Node"}, root)
    assert annotation == "ToolNode"
    assert "children: NotRequired[list[Any]]" in types.definitions[0]


def test_root_self_reference_terminates() -> None:
    root = {"type": "object", "properties": {"next": {"$ref": "#"}}}
    annotation, _ = convert(root)
    assert annotation == "ToolValue"
    assert typing_extensions.is_typeddict(evaluate(root))


def test_deeply_nested_schema_falls_back_to_any() -> None:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(200):
        schema = {"type": "array", "items": schema}
    annotation, _ = convert(schema)
    assert annotation.endswith("Any" + "]" * annotation.count("["))


def test_enum_strings_with_quotes_and_controls_are_safe_literals() -> None:
    values = ['"""', "'''", "\\", "\x00", "\u2028", "🎉"]
    assert evaluate({"enum": values}) == Literal[tuple(values)]  # type: ignore[valid-type,unused-ignore]


JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6)
KEYWORDS = st.sampled_from(
    [
        "type",
        "enum",
        "const",
        "items",
        "prefixItems",
        "properties",
        "required",
        "additionalProperties",
        "anyOf",
        "oneOf",
        "allOf",
        "$ref",
        "$defs",
        "definitions",
        "description",
        "title",
    ]
)
TYPE_NAMES = st.sampled_from(["string", "integer", "number", "boolean", "null", "array", "object"])
REFS = st.sampled_from(["#", "#/$defs/A", "#/$defs/B", "#/definitions/A", "#/$defs/~1x", "#/x"])


def schemas() -> st.SearchStrategy[Any]:
    def extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        values = (
            children
            | TYPE_NAMES
            | st.lists(TYPE_NAMES | children, max_size=3)
            | st.lists(JSON_SCALARS | children, max_size=3)
            | st.dictionaries(st.text(max_size=5) | st.sampled_from(["A", "B"]), children)
            | REFS
        )
        return st.dictionaries(KEYWORDS, values, max_size=5)

    return st.recursive(JSON_SCALARS | st.dictionaries(KEYWORDS, TYPE_NAMES), extend, max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(schemas())
def test_any_schema_yields_code_that_compiles_and_evaluates(schema: Any) -> None:
    evaluate(schema)
