"""The JSON shapes of the panel's REST API: tool summaries, version records, call snippets."""

from __future__ import annotations

import inspect
import types
import typing
from typing import Any

from typing_extensions import is_typeddict

from toolkernel._spec import JSONObject, ToolSpec
from toolkernel.registry import ToolVersion

__all__ = ["call_snippet", "placeholder", "schema_placeholder", "summary", "version_record"]

_SCHEMA_PLACEHOLDERS = {
    "string": '""',
    "integer": "0",
    "number": "0",
    "boolean": "False",
    "array": "[]",
    "object": "{}",
}


def summary(spec: ToolSpec, version: int | None) -> JSONObject:
    """Return the `Summary` of `spec`; `version` is its current registry version (None: MCP)."""
    return {
        "name": spec.qualified_name,
        "source": spec.source,
        "tool": spec.name,
        "kind": spec.kind,
        "title": spec.title,
        "description": spec.description,
        "annotations": spec.annotations,
        "version": version,
    }


def version_record(version: ToolVersion) -> JSONObject:
    """Return one entry of a tool's `versions` list (with a script's exact dependencies)."""
    return {
        "version": version.version,
        "created_at": version.created_at,
        "note": version.note,
        "author": version.author,
        "content_hash": version.content_hash,
        "rollback_of": version.rollback_of,
        "deleted": version.deleted,
        **({"dependencies": version.dependencies} if version.dependencies else {}),
    }


def call_snippet(call: str, function: Any, input_schema: JSONObject) -> str:
    """Return a ready-to-run call: required parameters get a placeholder of their type.

    Args:
        call: How a cell reaches the tool, up to the argument list
            (`await tools.local.word_count`), or a whole expression that takes no
            arguments (`load_skill('pdf')` for an Agent Skill), returned as it is.
        function: The binding (or skill) whose signature gives the parameters; None
            when there is none, and then the call passes one dict built from
            `input_schema` (bindings accept that form too).
        input_schema: The tool's JSON Schema of arguments.
    """
    if not call.startswith("await "):
        return call
    if function is None:
        return f"{call}({_schema_arguments(input_schema)})"
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return f"{call}({_schema_arguments(input_schema)})"
    required = [
        f"{param.name}={placeholder(param.annotation)}"
        for param in parameters
        if param.default is inspect.Parameter.empty
        and param.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    return f"{call}({', '.join(required)})"


def placeholder(annotation: Any) -> str:
    """Return a Python literal of the annotated type: `""`, `0`, `False`, `[]`, `{}`, ...

    A `Literal` gives its first value; a union its first arm that is not None; anything
    else (`Any`, an unannotated parameter) gives `None`.
    """
    if isinstance(annotation, str):
        return _placeholder_text(annotation)
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin is typing.Literal:
        return repr(arguments[0])
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        arms = [arm for arm in arguments if arm is not type(None)]
        return placeholder(arms[0]) if arms else "None"
    base = origin or annotation
    if is_typeddict(annotation):
        base = dict
    literals = (literal for kind, literal in _PLACEHOLDER_TYPES if _is_subclass(base, kind))
    return next(literals, "None")


def _is_subclass(value: Any, kind: type) -> bool:
    return isinstance(value, type) and issubclass(value, kind)


def schema_placeholder(schema: Any) -> str:
    """Return a placeholder literal for a JSON Schema (for tools with no binding)."""
    kind = schema.get("type") if isinstance(schema, dict) else None
    if isinstance(kind, list):
        kind = next((item for item in kind if item != "null"), None)
    return _SCHEMA_PLACEHOLDERS.get(kind, "None") if isinstance(kind, str) else "None"


def _placeholder_text(annotation: str) -> str:
    """Placeholder for an annotation known only as text (`list[str] | None`)."""
    arms = [arm.strip() for arm in annotation.split("|")]
    first = next((arm for arm in arms if arm not in ("None", "")), "None")
    return _PLACEHOLDER_NAMES.get(first.partition("[")[0].strip(), "None")


def _schema_arguments(schema: JSONObject) -> str:
    properties = schema.get("properties")
    required = schema.get("required")
    if not isinstance(properties, dict) or not isinstance(required, list):
        return ""
    items = [
        f"{name!r}: {schema_placeholder(properties.get(name))}"
        for name in required
        if isinstance(name, str)
    ]
    return "{" + ", ".join(items) + "}" if items else ""


# bool before int: bool is an int subclass.
_PLACEHOLDER_TYPES: tuple[tuple[type, str], ...] = (
    (str, '""'),
    (bool, "False"),
    (int, "0"),
    (float, "0.0"),
    (list, "[]"),
    (tuple, "[]"),
    (dict, "{}"),
)
_PLACEHOLDER_NAMES = {
    "str": '""',
    "bool": "False",
    "int": "0",
    "float": "0.0",
    "list": "[]",
    "tuple": "[]",
    "dict": "{}",
}
