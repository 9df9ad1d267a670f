"""Write the docstring of one generated binding: summary, arguments, nested keys, result.

A parameter or result whose type is a generated `TypedDict` lists its keys under it,
nested as deep as the type is (to `_MAX_DEPTH` levels), so `help()` and
`get_tool_details` show what `edits=[{...}]` must hold, not only `edits: Required.`
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from toolkernel._spec import ToolSpec
from toolkernel.bindings._text import clean_text, sentences, short_json
from toolkernel.bindings._types import ModuleTypes, TypedField

__all__ = ["Param", "docstring"]

_MAX_DEPTH = 4
"""How many levels of nested keys a docstring lists."""
_INDENT = "    "
_UNTYPED_RETURN = (
    "The tool's result: a str for one text block (never parsed as JSON),\n"
    "a ToolImage for an image, a list for mixed content, None for no content."
)
_HINTS = (
    ("readOnlyHint", "read-only"),
    ("destructiveHint", "destructive"),
    ("idempotentHint", "idempotent"),
    ("openWorldHint", "open world"),
)
# Quoted strings (Literal members) are skipped when looking for class names.
_NAMES = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^\W\d]\w*")


class Param(NamedTuple):
    """One parameter of a binding.

    Attributes:
        original: The argument's name as the tool spells it (`city-name`).
        name: The Python parameter name (`city_name`).
        annotation: Its annotation source (`str | None`).
        required: Whether the tool requires it.
        schema: The property's JSON Schema.
    """

    original: str
    name: str
    annotation: str
    required: bool
    schema: Any


def docstring(
    source: str, spec: ToolSpec, params: list[Param], returns: str, types: ModuleTypes
) -> str:
    """Return the docstring text of the binding of `spec` (not yet a literal)."""
    summary = clean_text(spec.description) or clean_text(spec.title)
    origin = f"Calls {spec.name!r} on {source!r}{_hints(spec.annotations)}."
    sections = [summary, origin] if summary else [origin]
    if params:
        lines = [line for param in params for line in _arg_lines(param, types)]
        sections.append("Args:\n" + "\n".join(_INDENT + line for line in lines))
    returned = _returns_lines(spec, returns, types)
    sections.append("Returns:\n" + "\n".join(_INDENT + line for line in returned))
    sections.append("Raises:\n    ToolError: The tool reported failure.")
    return "\n\n".join(sections)


def _arg_lines(param: Param, types: ModuleTypes) -> list[str]:
    schema = param.schema if isinstance(param.schema, dict) else {}
    parts = [_description(schema, param.annotation, types)]
    if param.name != param.original:
        parts.append(f"Sent as {param.original!r}.")
    parts += _value_facts(schema)
    if not param.required:
        parts.append("Optional.")
    elif not any(parts):
        parts.append("Required.")
    return _described(param.name, sentences(parts), param.annotation, types)


def _returns_lines(spec: ToolSpec, returns: str, types: ModuleTypes) -> list[str]:
    if not isinstance(spec.output_schema, dict):
        return _UNTYPED_RETURN.split("\n")
    text = sentences(["the structured result", clean_text(spec.output_schema.get("description"))])
    return _described(returns, text, returns, types)


def _described(label: str, text: str, annotation: str, types: ModuleTypes) -> list[str]:
    """`label: text`, then the keys of the `TypedDict`s `annotation` holds, nested."""
    keys = _keys(annotation, types, 1, set())
    if keys:
        text = f"{text} {keys[0]}".lstrip()
    head, *rest = f"{label}: {text}".split("\n")
    return [head, *(_INDENT + line for line in rest), *keys[1:]]


def _keys(annotation: str, types: ModuleTypes, depth: int, seen: set[str]) -> list[str]:
    """A heading ("Keys:") and one indented line per key of each class in `annotation`.

    Returns [] when the annotation holds no generated class, or only ones already
    listed above (a recursive type), or when `depth` is past `_MAX_DEPTH`.
    """
    classes = [name for name in _class_names(annotation, types) if name not in seen]
    if not classes or depth > _MAX_DEPTH:
        return []
    heading = _heading(annotation, classes)
    lines: list[str] = []
    for name in classes:
        if len(classes) > 1:
            lines.append(_INDENT * depth + f"{name}:")
        inner = depth + 1 if len(classes) > 1 else depth
        for item in types.fields[name]:
            lines += _field_lines(item, types, inner, seen | {name})
    return [heading, *lines]


def _field_lines(item: TypedField, types: ModuleTypes, depth: int, seen: set[str]) -> list[str]:
    schema = item.schema if isinstance(item.schema, dict) else {}
    text = sentences([_description(schema, item.annotation, types), *_value_facts(schema)])
    optional = "" if item.required else ", optional"
    label = f"{item.key} ({item.annotation}{optional})"
    keys = _keys(item.annotation, types, depth + 1, seen)
    text = " ".join(part for part in (text, keys[0] if keys else "") if part)
    head, *rest = (f"{label}: {text}" if text else label).split("\n")
    indent = _INDENT * depth
    return [indent + head, *(indent + _INDENT + line for line in rest), *keys[1:]]


def _heading(annotation: str, classes: list[str]) -> str:
    bare = annotation.removesuffix(" | None")
    if len(classes) == 1 and bare == classes[0]:
        return "Keys:"
    if len(classes) == 1 and bare == f"list[{classes[0]}]":
        return "Each item's keys:"
    if len(classes) == 1 and bare == f"dict[str, {classes[0]}]":
        return "Each value's keys:"
    return "Keys of each:" if len(classes) > 1 else f"Keys of {classes[0]}:"


def _class_names(annotation: str, types: ModuleTypes) -> list[str]:
    names = (match.group() for match in _NAMES.finditer(annotation))
    return list(dict.fromkeys(name for name in names if name in types.fields))


def _description(schema: dict[str, Any], annotation: str, types: ModuleTypes) -> str:
    """The property's description, else that of the one class it is (a `$ref`'s)."""
    text = clean_text(schema.get("description"))
    if text:
        return text
    classes = _class_names(annotation, types)
    return types.docs.get(classes[0], "") if len(classes) == 1 else ""


def _value_facts(schema: dict[str, Any]) -> list[str]:
    facts = []
    if isinstance(schema.get("enum"), list):
        facts.append(f"One of: {short_json(schema['enum'])}.")
    if schema.get("default") is not None:
        facts.append(f"Server default: {short_json(schema['default'])}.")
    return facts


def _hints(annotations: dict[str, Any] | None) -> str:
    if not isinstance(annotations, dict):
        return ""
    hints = [label for key, label in _HINTS if annotations.get(key) is True]
    return f" ({', '.join(hints)})" if hints else ""
