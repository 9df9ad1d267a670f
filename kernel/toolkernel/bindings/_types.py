"""Translate JSON Schema into Python annotation source text.

The output is source code for a generated module, not type objects: an annotation
expression (`list[str] | None`) plus the `TypedDict` definitions it refers to, which
the module defines before first use. Any schema, however odd, yields code that
compiles and evaluates; whatever cannot be expressed becomes `Any`.
"""

from __future__ import annotations

import keyword
import unicodedata
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from toolkernel.bindings._names import pascal_case, python_identifier
from toolkernel.bindings._text import clean_text, doc_literal

__all__ = ["ModuleTypes", "SchemaTyper", "TypedField", "required_names"]

_SIMPLE_TYPES = {
    "string": "str",
    "integer": "int",
    "number": "float",
    "boolean": "bool",
    "null": "None",
}
_MAX_DEPTH = 24


class TypedField(NamedTuple):
    """One key of a generated `TypedDict`, as its docstring describes it.

    Attributes:
        key: The key, as the tool spells it.
        annotation: Its value's annotation (without `NotRequired`).
        required: Whether the key must be present.
        schema: The property's JSON Schema.
    """

    key: str
    annotation: str
    required: bool
    schema: Any


@dataclass
class ModuleTypes:
    """The module-wide state shared by every schema of one generated module.

    Attributes:
        taken: Identifiers already bound at module level (functions, classes).
        definitions: Source text of each generated `TypedDict`, in definition order.
        class_names: The generated `TypedDict` names, in definition order.
        fields: The keys of each generated `TypedDict`, by class name.
        docs: The description of each generated `TypedDict` that has one.
    """

    taken: set[str] = field(default_factory=set)
    definitions: list[str] = field(default_factory=list)
    class_names: list[str] = field(default_factory=list)
    fields: dict[str, list[TypedField]] = field(default_factory=dict)
    docs: dict[str, str] = field(default_factory=dict)


class SchemaTyper:
    """Turns the schemas under one root (an input or output schema) into annotations.

    Local `$ref`s (`#/$defs/X`, `#/definitions/X`, `#`) resolve against `root`; each
    is translated once, and a reference back into itself becomes `Any`.
    """

    def __init__(self, module: ModuleTypes, root: Any, prefix: str) -> None:
        """Start a typer for `root`, naming classes `<prefix><Hint>`."""
        self._module = module
        self._root = root
        self._prefix = prefix
        self._refs: dict[str, str] = {}
        self._resolving: set[str] = set()

    def annotation(self, schema: Any, hint: str, depth: int = 0) -> str:
        """Return the annotation for `schema`; `hint` names a `TypedDict` if one is made."""
        if not isinstance(schema, dict) or depth > _MAX_DEPTH:
            return "Any"
        if "$ref" in schema:
            return self._ref(schema["$ref"], depth)
        if "const" in schema:
            return _literal([schema["const"]])
        if "enum" in schema:
            values = schema["enum"]
            return _literal(values) if isinstance(values, list) else "Any"
        combined = self._combined(schema, hint, depth)
        return combined if combined is not None else self._typed(schema, hint, depth)

    def _combined(self, schema: dict[str, Any], hint: str, depth: int) -> str | None:
        """`anyOf` / `oneOf` as a union, a one-member `allOf` as its member, else None."""
        for combinator in ("anyOf", "oneOf"):
            options = schema.get(combinator)
            if isinstance(options, list) and options:
                values = _choice_values(options)
                if values is not None:  # [{const: a}, {const: b}, {type: null}]
                    return _literal(values)
                return _union(self.annotation(opt, hint, depth + 1) for opt in options)
        all_of = schema.get("allOf")
        if isinstance(all_of, list) and len(all_of) == 1:
            return self.annotation(all_of[0], hint, depth + 1)
        return None

    def _typed(self, schema: dict[str, Any], hint: str, depth: int) -> str:
        kind = schema.get("type")
        if isinstance(kind, list):
            if not kind or depth > _MAX_DEPTH:
                return "Any"
            variants = ({**schema, "type": item} for item in kind)
            return _union(self._typed(variant, hint, depth + 1) for variant in variants)
        if isinstance(kind, str) and kind in _SIMPLE_TYPES:
            return _SIMPLE_TYPES[kind]
        if kind == "array" or (kind is None and "items" in schema):
            return self._array(schema, hint, depth)
        if kind == "object" or (kind is None and "properties" in schema):
            return self._object(schema, hint, depth)
        return "Any"

    def _array(self, schema: dict[str, Any], hint: str, depth: int) -> str:
        items = schema.get("items")
        if not isinstance(items, dict) or "prefixItems" in schema:
            return "list[Any]"
        return f"list[{self.annotation(items, hint + 'Item', depth + 1)}]"

    def _object(self, schema: dict[str, Any], hint: str, depth: int) -> str:
        properties = schema.get("properties")
        if isinstance(properties, dict) and properties:
            return self._typed_dict(schema, properties, hint, depth)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            return f"dict[str, {self.annotation(extra, hint + 'Value', depth + 1)}]"
        return "dict[str, Any]"

    def _typed_dict(
        self, schema: dict[str, Any], properties: dict[str, Any], hint: str, depth: int
    ) -> str:
        required = _required(schema)
        fields: dict[str, str] = {}
        described: list[TypedField] = []
        for key, prop in properties.items():
            value = self.annotation(prop, hint + pascal_case(str(key)), depth + 1)
            fields[str(key)] = value if key in required else f"NotRequired[{value}]"
            described.append(TypedField(str(key), value, key in required, prop))
        name = python_identifier(pascal_case(self._prefix, hint), self._module.taken)
        self._module.taken.add(name)
        self._module.class_names.append(name)
        self._module.definitions.append(_typed_dict_source(name, fields, schema))
        self._module.fields[name] = described
        if clean_text(schema.get("description")):
            self._module.docs[name] = clean_text(schema.get("description"))
        return name

    def _ref(self, ref: Any, depth: int) -> str:
        if not isinstance(ref, str):
            return "Any"
        if ref in self._refs:
            return self._refs[ref]
        target = _resolve_pointer(self._root, ref)
        if target is None or ref in self._resolving:
            return "Any"
        self._resolving.add(ref)
        try:
            hint = ref.rsplit("/", 1)[-1] if ref != "#" else "Root"
            result = self.annotation(target, pascal_case(hint), depth + 1)
        finally:
            self._resolving.discard(ref)
        self._refs[ref] = result
        return result


def required_names(schema: Any) -> set[str]:
    """Return the `required` property names of an object schema (garbage ignored)."""
    return _required(schema) if isinstance(schema, dict) else set()


def _required(schema: dict[str, Any]) -> set[str]:
    required = schema.get("required")
    if not isinstance(required, list):
        return set()
    return {item for item in required if isinstance(item, str)}


def _literal(values: list[Any]) -> str:
    """`Literal[...]` for literal-able values, `None` kept apart, else a base type."""
    if not values:
        return "Any"
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    if numbers and any(isinstance(v, float) for v in values):
        return "float"  # Literal does not take floats.
    reprs: list[str] = []
    has_none = False
    for value in values:
        if value is None:
            has_none = True
        elif isinstance(value, str | int):  # bool is an int
            text = repr(value)
            if text not in reprs:
                reprs.append(text)
        else:
            return "Any"
    parts = [f"Literal[{', '.join(reprs)}]"] if reprs else []
    return _union([*parts, "None"] if has_none else parts)


def _choice_values(options: list[Any]) -> list[Any] | None:
    """The values of a union of `const` / `enum` / null options; None if it is not one."""
    values: list[Any] = []
    for option in options:
        if not isinstance(option, dict):
            return None
        if "const" in option:
            values.append(option["const"])
        elif isinstance(option.get("enum"), list):
            values.extend(option["enum"])
        elif option.get("type") == "null":
            values.append(None)
        else:
            return None
    return values


def _union(members: Any) -> str:
    seen: list[str] = []
    for member in members:
        if member == "Any":
            return "Any"
        if member not in seen:
            seen.append(member)
    if not seen:
        return "Any"
    if "None" in seen and len(seen) > 1:
        seen = [*(m for m in seen if m != "None"), "None"]
    return " | ".join(seen)


def _resolve_pointer(root: Any, ref: str) -> Any:
    """Resolve a local JSON pointer (`#/$defs/X`); None when it is not local or missing."""
    if ref == "#":
        return root
    if not ref.startswith("#/"):
        return None
    node = root
    for raw in ref[2:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node


def _typed_dict_source(name: str, fields: dict[str, str], schema: dict[str, Any]) -> str:
    description = clean_text(schema.get("description"))
    if all(_class_field_ok(key) for key in fields):
        lines = [f"class {name}(TypedDict):"]
        if description:
            lines.append(f"    {doc_literal(description, indent='    ')}")
            lines.append("")
        lines.extend(f"    {key}: {value}" for key, value in fields.items())
        return "\n".join(lines)
    body = ",\n".join(f"        {key!r}: {value}" for key, value in fields.items())
    return f"{name} = TypedDict(\n    {name!r},\n    {{\n{body},\n    }},\n)"


def _class_field_ok(key: str) -> bool:
    """Whether `key` can be a class-body field: Python would not rename or reject it."""
    return (
        key.isidentifier()
        and not keyword.iskeyword(key)
        and not key.startswith("__")
        and unicodedata.normalize("NFKC", key) == key
    )
