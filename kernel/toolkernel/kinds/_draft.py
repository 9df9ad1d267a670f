"""ToolDraft: the arguments of `create_tool`, declared and checked in this one place.

Every front door builds one: the factory's keyword API, the kernel's `create_tool`, a
`tool.json`, the MCP bridge (`ToolDraft.from_arguments`, and `ToolDraft.json_schema()`
for its tool's input). A draft checks what every kind shares when it is made (names,
text fields, JSON Schemas); each kind checks its own fields (`ToolKind.check`).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any

from toolkernel.errors import RegistryError

__all__ = ["ToolDraft"]

_OBJECT = {"type": ["object", "null"]}
_STRINGS = {"type": ["array", "null"], "items": {"type": "string"}}


def _field(default: Any, doc: str, schema: Mapping[str, Any]) -> Any:
    return field(default=default, metadata={"doc": doc, "schema": dict(schema)})


@dataclass(frozen=True)
class ToolDraft:
    """A tool to create: `create_tool`'s arguments, checked when the draft is made.

    Each field is documented where it is declared (`ToolDraft.fields_doc()` shows them
    all); `kind` selects which of the kind-specific fields apply.

    Raises:
        RegistryError: A shared field is malformed (the message says what to write).
    """

    name: str | None = _field(
        None,
        "`tool` (put under `local`) or `namespace.tool`; identifiers only. None only "
        "for an Agent Skill, named by its `SKILL.md`.",
        {"type": ["string", "null"]},
    )
    kind: str = _field(
        "wasm",
        "`wasm` (compiled, run under wasmtime), `script` (an interpreter, run in the "
        "process sandbox, speaking JSON-RPC 2.0 over stdio), `pipeline` (declarative "
        "`steps` calling other tools), or `skill` (`language='markdown'`: an Agent "
        "Skills folder as `source`; Python skills are easier with `save_skill`).",
        {"type": "string"},
    )
    language: str = _field(
        "",
        "WASM: `rust`, `c`, `zig`, `wat`, or `wasm` (a prebuilt module, as bytes or "
        "base64). Script: `python`, `node`, `ruby`, `bash`, or `command` (with "
        "`command=[interpreter, ...]`). Skill: `python` or `markdown`.",
        {"type": "string"},
    )
    source: str | bytes | Mapping[str, Any] = _field(
        "",
        "The program's text, or a dict of relative path to text (a Rust crate: "
        '`{"src/main.rs": ..., "Cargo.toml": ...}`). A WASM tool reads its arguments '
        "as one JSON object on stdin and prints one JSON value; a script answers an "
        "`execute` JSON-RPC request.",
        {"anyOf": [{"type": "string"}, {"type": "object", "additionalProperties": {}}]},
    )
    description: str = _field(
        "", "What the tool does, for search and the docstring.", {"type": "string"}
    )
    input_schema: Mapping[str, Any] | None = _field(
        None,
        "JSON Schema of the arguments (an object); typed parameters of the binding come from it.",
        _OBJECT,
    )
    output_schema: Mapping[str, Any] | None = _field(
        None, "JSON Schema of the result; results are checked against it.", _OBJECT
    )
    annotations: Mapping[str, Any] | None = _field(
        None, "MCP hints (`readOnlyHint`, `destructiveHint`, ...).", _OBJECT
    )
    limits: Mapping[str, Any] | None = _field(
        None,
        "WASM: `fuel`, `memory_bytes`, `timeout_s`, `stdout_bytes`, `stderr_bytes`. "
        "Script: `timeout_s`, `cpu_s`, `memory_bytes`, `processes`, `file_size_bytes`, "
        "`open_files`, `stdout_bytes`, `stderr_bytes`, `tmp_bytes`.",
        _OBJECT,
    )
    policy: Mapping[str, Any] | None = _field(
        None,
        'WASM: `{"mounts": [{"host", "guest", "writable"}], "env": {...}}`. Script: '
        '`{"network": bool or ["api.github.com", "*.example.org"], "read_only": [...], '
        '"writable": [...]}`. Nothing on the host is visible unless listed.',
        _OBJECT,
    )
    note: str = _field("", "Why this version was made.", {"type": "string"})
    entry: str | None = _field(
        None,
        "A script's main file (default `main.py`, `main.js`, ...); a Python skill's "
        "`async def` (default: the skill's name).",
        {"type": ["string", "null"]},
    )
    command: Sequence[str] | None = _field(
        None, 'The interpreter argv for `language="command"`.', _STRINGS
    )
    requirements: Sequence[str] | None = _field(
        None, "pip requirements of a Python script (a cached venv).", _STRINGS
    )
    packages: Sequence[str] | None = _field(
        None, "npm packages of a Node script (a cached `node_modules`).", _STRINGS
    )
    resolved: Sequence[str] | None = _field(
        None,
        "Exact versions of every requirement or package (`six==1.17.0`, `left-pad@1.3.0`) "
        "to install instead of resolving them again; recorded on each version when it is "
        "built, and carried by bundles.",
        _STRINGS,
    )
    persistent: bool = _field(
        False, "Keep one warm script process that answers many calls.", {"type": "boolean"}
    )
    secrets: Sequence[str] | None = _field(
        None,
        "Names `X` whose host variable `TOOLKERNEL_SECRET_X` the script gets as `X`; "
        "their values are redacted from everything it returns.",
        _STRINGS,
    )
    protocol: str | None = _field(
        None,
        "A script's reply shapes: `toolkernel` (default: `tools/call` answers MCP's "
        '`{content, isError, structuredContent}`) or `skillz` (`{"output": ...}`, '
        '`memory/set` `{"success": true}`, failures as `{"error": ...}` results), for '
        "scripts written for Skillz.",
        {"type": ["string", "null"], "enum": ["toolkernel", "skillz", None]},
    )
    steps: Sequence[Mapping[str, Any]] | None = _field(
        None,
        'A pipeline\'s steps: `{"id": "a", "tool": "server.tool", "args": {...}, '
        '"when": "${input.flag}", "continue_on_error": false}`. Args may hold '
        "`${input.x}` (or `$input.x`), `${prev}` (the last run step's result), "
        "`${steps.a.result.items[0]}` and `${steps.a.error}`; a string that is only a "
        "reference keeps the value's type. A failing `continue_on_error` step gives null "
        "and its error. Unknown tools, bad references and cycles are refused.",
        {"type": ["array", "null"], "items": {"type": "object"}},
    )
    output: Any = _field(  # noqa: RUF009 - `_field` makes a `Field`, like `field`
        None,
        "A pipeline's result template (default: the last step's result). WASM: `json` "
        "(the default: stdout is one JSON value) or `text` (stdout is the result, a "
        "string, as Skillz returns it).",
        {},
    )

    def __post_init__(self) -> None:
        """Check the fields every kind shares; keep the schemas as plain JSON."""
        if self.name is not None and not isinstance(self.name, str):
            msg = f"a tool name must be a str like 'prime_generator', not {self.name!r}"
            raise RegistryError(msg)
        if self.language is None:  # a front door's "no language" (pipelines need none)
            object.__setattr__(self, "language", "")
        for name in ("kind", "language", "description", "note"):
            _text(getattr(self, name), name)
        where = repr(self.name) if self.name else "the tool"
        for name in ("input_schema", "output_schema"):
            checked = _schema(where, getattr(self, name), name, is_input=name == "input_schema")
            object.__setattr__(self, name, checked)
        if self.annotations is not None and not isinstance(self.annotations, Mapping):
            msg = (
                "annotations must be a dict of MCP hints such as {'readOnlyHint': True}, "
                f"not {type(self.annotations).__name__}"
            )
            raise RegistryError(msg)

    @classmethod
    def from_arguments(cls, arguments: Mapping[str, Any]) -> ToolDraft:
        """Make a draft from `create_tool`'s arguments as a mapping (an MCP call, a file).

        Raises:
            RegistryError: An argument `create_tool` does not take (the message lists
                those it does), or a malformed shared field.
        """
        known = [f.name for f in fields(cls)]
        unknown = sorted(map(str, set(arguments) - set(known)))
        if unknown:
            msg = (
                f"create_tool takes no argument {', '.join(map(repr, unknown))}; its "
                f"arguments are: {', '.join(known)}"
            )
            raise RegistryError(msg)
        return cls(**arguments)

    @classmethod
    def of(cls, draft: ToolDraft | str | None = None, /, **arguments: Any) -> ToolDraft:
        """Make a draft from `create_tool(draft_or_name, **arguments)`.

        That is a whole draft, or the tool's name (None for an Agent Skill) and its other
        fields as keywords.

        Raises:
            RegistryError: Both a draft and keywords, an unknown keyword, or a malformed
                shared field.
        """
        if isinstance(draft, ToolDraft):
            if arguments:
                msg = "give create_tool a ToolDraft, or a name and keywords, not both"
                raise RegistryError(msg)
            return draft
        if draft is not None or "name" not in arguments:
            arguments = {"name": draft, **arguments}
        return cls.from_arguments(arguments)

    @classmethod
    def json_schema(cls, kinds: Sequence[str] = ()) -> dict[str, Any]:
        """The JSON Schema of `create_tool`'s arguments, for an MCP tool's input.

        Args:
            kinds: The kinds to offer (`kind` then is an enum of them); empty: any.
        """
        properties: dict[str, Any] = {}
        for found in fields(cls):
            schema = {**found.metadata["schema"], "description": found.metadata["doc"]}
            if _default(found) is not None:
                schema["default"] = _default(found)
            properties[found.name] = schema
        if kinds:
            properties["kind"]["enum"] = list(kinds)
        return {"type": "object", "properties": properties, "additionalProperties": False}

    @classmethod
    def fields_doc(cls, indent: str = "    ") -> str:
        """Every field and its documentation, as a docstring's `Args:` entries."""
        return "\n".join(
            textwrap.fill(
                f"{f.name}: {f.metadata['doc']}",
                width=88,
                initial_indent=indent,
                subsequent_indent=indent + "    ",
            )
            for f in fields(cls)
        )


def _default(found: Field[Any]) -> Any:
    return None if found.default is MISSING else found.default


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        msg = f"{what} must be a str, not {type(value).__name__}"
        raise RegistryError(msg)
    return value


def _schema(
    where: str, schema: Mapping[str, Any] | None, what: str, *, is_input: bool
) -> dict[str, Any] | None:
    if schema is None:
        return None
    if not isinstance(schema, Mapping):
        msg = f"{what} of {where} must be a JSON Schema dict, not {type(schema).__name__}"
        raise RegistryError(msg)
    try:
        checked = json.loads(json.dumps(dict(schema)))
    except (TypeError, ValueError) as exc:
        msg = f"{what} of {where} must be JSON (dicts, lists, strings, numbers): {exc}"
        raise RegistryError(msg) from exc
    if is_input and checked.get("type", "object") != "object":
        msg = f'{what} of {where} must have "type": "object" (arguments are an object)'
        raise RegistryError(msg)
    from toolkernel.host._validate import compile_validator  # noqa: PLC0415 - jsonschema

    if compile_validator(checked) is None:
        msg = f"{what} of {where} is not a valid JSON Schema; check its types and keywords"
        raise RegistryError(msg)
    return dict(checked)
