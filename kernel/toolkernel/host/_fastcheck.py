"""A fast yes for arguments that a simple schema surely accepts, decided without jsonschema.

jsonschema checks `{"x": 1}` against `{"type": "object", "properties": {"x": {"type":
"integer"}}}` in about 6 us, a tenth of a warm WASM call. Most tools' schemas use only
`type`, `properties`, `required`, `additionalProperties` (a boolean), `items` and
string `enum`s, which plain Python decides in about 1 us. `fast_check(schema)` compiles
such a schema into a predicate that answers True only for instances jsonschema accepts
too; for anything else (another keyword, `$schema`, `$ref`, a non-string `enum`, a value
the predicate is unsure of) it answers False, and the caller asks jsonschema, which
decides and words the error. So the verdict is always jsonschema's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["fast_check"]

Check = Callable[[Any], bool]

_KEYWORDS = frozenset({"type", "properties", "required", "additionalProperties", "items", "enum"})
# Keywords that never reject anything (jsonschema asserts `format` only with a checker,
# and the host's validators have none).
_ANNOTATIONS = frozenset(
    {"title", "description", "default", "examples", "$comment", "deprecated", "format"}
    | {"readOnly", "writeOnly"}
)


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


# As jsonschema's types for drafts 4 to 2020-12, narrowed where it is broader (any
# `numbers.Number` is a number there; int and float here).
_TYPES: dict[str, Check] = {
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
    "string": lambda value: isinstance(value, str),
    "boolean": lambda value: isinstance(value, bool),
    "null": lambda value: value is None,
    "number": lambda value: isinstance(value, int | float) and not isinstance(value, bool),
    "integer": _is_integer,
}


def _never(value: Any) -> bool:
    return False


def fast_check(schema: Any) -> Check:
    """A predicate True only for instances `schema` accepts (False: ask jsonschema)."""
    return _compile(schema) or _never


def _compile(schema: Any) -> Check | None:
    """The predicate of a schema in the simple subset, or None when it is not."""
    if not isinstance(schema, Mapping) or not set(schema) <= _KEYWORDS | _ANNOTATIONS:
        return None
    parts = (
        _compile_type(schema["type"]) if "type" in schema else _always,
        _compile_object(schema),
        _compile_items(schema.get("items", True)),
        _compile_enum(schema.get("enum")),
    )
    checks: list[Check] = []
    for part in parts:
        if part is None:
            return None
        if part is not _always:
            checks.append(part)
    if len(checks) <= 1:
        return checks[0] if checks else _always
    return lambda value: all(check(value) for check in checks)


def _always(value: Any) -> bool:
    return True


def _compile_type(types: Any) -> Check | None:
    names = [types] if isinstance(types, str) else types
    if not isinstance(names, list) or not names or not all(name in _TYPES for name in names):
        return None
    checks = [_TYPES[name] for name in names]
    return lambda value: any(check(value) for check in checks)


def _compile_object(schema: Mapping[str, Any]) -> Check | None:
    properties = schema.get("properties", {})
    required = schema.get("required", [])
    extra = schema.get("additionalProperties", True)
    if not isinstance(properties, Mapping) or not isinstance(extra, bool):
        return None
    if not isinstance(required, list) or not all(isinstance(name, str) for name in required):
        return None
    compiled = {name: _compile(sub) for name, sub in properties.items()}
    if any(check is None for check in compiled.values()):
        return None
    if not compiled and not required and extra:
        return _always
    checks: dict[str, Check] = {name: check for name, check in compiled.items() if check}
    needed = tuple(required)

    def check_object(value: Any) -> bool:
        if not isinstance(value, dict):
            return True  # the keywords of objects apply to objects only
        if any(name not in value for name in needed):
            return False
        for key, item in value.items():
            check = checks.get(key)
            if check is None:
                if not extra:
                    return False
            elif not check(item):
                return False
        return True

    return check_object


def _compile_items(items: Any) -> Check | None:
    if items is True:
        return _always
    each = _compile(items)
    if each is None:
        return None
    return lambda value: not isinstance(value, list) or all(each(item) for item in value)


def _compile_enum(enum: Any) -> Check | None:
    if enum is None:
        return _always
    if not isinstance(enum, list) or not all(isinstance(option, str) for option in enum):
        return None
    options = frozenset(enum)
    return lambda value: isinstance(value, str) and value in options
