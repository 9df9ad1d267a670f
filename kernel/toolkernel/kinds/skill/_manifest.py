"""The skill-specific part of a tool manifest: Python skills and Agent Skills folders.

A Python skill is the source of one `async def` that composes tools; it runs in the
kernel, not in a sandbox, because it is the user's (or agent's) own notebook code. Its
input schema is read from the function's annotations without running anything: the
source is parsed, never executed, so importing a bundle or watching a folder cannot run
a skill's top-level code.

An Agent Skills folder is a `SKILL.md` (YAML front matter with `name` and
`description`, then the instructions) plus any files it refers to. Only the front
matter is indexed; the instructions and files load on demand.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from toolkernel.errors import RegistryError
from toolkernel.kinds._sources import safe_relative_path

__all__ = [
    "SKILL_LANGUAGES",
    "SKILL_NAMESPACE",
    "SkillDocument",
    "markdown_skill_files",
    "parse_skill_md",
    "python_skill_fields",
    "skill_tool_name",
]

SKILL_NAMESPACE = "skills"
"""The namespace every skill lives in: `skills.<name>`, importable as `from skills import x`."""
SKILL_LANGUAGES = ("python", "markdown")
"""`language` of a skill: a Python async function, or an Agent Skills folder."""

MAX_SKILL_BYTES = 8 * 1024 * 1024
"""The most an Agent Skills folder may hold, all files together."""

_AGENT_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_SIMPLE_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}
_CONTAINERS = {"list": "array", "tuple": "array", "set": "array", "dict": "object"}


@dataclass(frozen=True)
class SkillDocument:
    """A parsed `SKILL.md`.

    Attributes:
        name: The skill's name from the front matter (`pdf-processing`).
        description: What the skill does and when to use it.
        body: The instructions after the front matter.
        metadata: Every other front-matter field (`license`, `allowed-tools`, ...).
    """

    name: str
    description: str
    body: str
    metadata: dict[str, Any] = field(default_factory=dict)


def parse_skill_md(text: str) -> SkillDocument:
    """Parse a `SKILL.md`: YAML front matter between `---` lines, then instructions.

    Raises:
        RegistryError: No front matter, invalid YAML, or a missing or malformed `name`
            or `description`; the message shows what a valid header looks like.
    """
    import yaml  # noqa: PLC0415 - only SKILL.md needs YAML; kept off kernel start-up

    example = "---\\nname: pdf-processing\\ndescription: Extract text from PDFs...\\n---"
    text = text.lstrip("\ufeff")
    found = _FRONT_MATTER.match(text)
    if found is None:
        msg = f"SKILL.md must start with YAML front matter, e.g. {example!r}"
        raise RegistryError(msg)
    try:
        header = yaml.safe_load(found.group(1))
    except yaml.YAMLError as exc:
        msg = f"SKILL.md front matter is not valid YAML: {exc}"
        raise RegistryError(msg) from exc
    if not isinstance(header, dict):
        msg = f"SKILL.md front matter must be a mapping of fields, e.g. {example!r}"
        raise RegistryError(msg)
    name, description = header.pop("name", None), header.pop("description", None)
    if not isinstance(name, str) or not _AGENT_NAME.fullmatch(name) or len(name) > 64:
        msg = (
            f"SKILL.md name {name!r} is invalid: use lowercase letters, digits and single "
            "hyphens, at most 64 characters (e.g. 'pdf-processing')"
        )
        raise RegistryError(msg)
    if not isinstance(description, str) or not description.strip():
        msg = f"SKILL.md of {name!r} needs a non-empty description: what it does, when to use it"
        raise RegistryError(msg)
    body = text[found.end() :].lstrip("\r\n")
    return SkillDocument(name, description.strip(), body, header)


def skill_tool_name(agent_name: str) -> str:
    """Return the registry name of an Agent Skill: `pdf-processing` -> `skills.pdf_processing`.

    Raises:
        RegistryError: The result is not a valid identifier (it starts with a digit).
    """
    tool = agent_name.replace("-", "_")
    if not tool.isidentifier():
        msg = f"skill name {agent_name!r} must start with a letter to be importable"
        raise RegistryError(msg)
    return f"{SKILL_NAMESPACE}.{tool}"


def markdown_skill_files(source: object) -> tuple[SkillDocument, dict[str, bytes]]:
    """Check an Agent Skills folder given as {relative path: text or bytes}.

    Returns:
        The parsed `SKILL.md`, and every file as bytes.

    Raises:
        RegistryError: No `SKILL.md`, an unsafe path, or more than `MAX_SKILL_BYTES`.
    """
    if not isinstance(source, Mapping) or "SKILL.md" not in source:
        msg = "an Agent Skill's source is a dict of files that includes 'SKILL.md'"
        raise RegistryError(msg)
    files: dict[str, bytes] = {}
    for path, data in source.items():
        if not isinstance(path, str) or not safe_relative_path(path):
            msg = f"skill file {path!r} must be a relative path inside the skill folder"
            raise RegistryError(msg)
        if isinstance(data, str):
            files[path] = data.encode("utf-8")
        elif isinstance(data, bytes):
            files[path] = data
        else:
            msg = f"skill file {path!r} must be str or bytes, not {type(data).__name__}"
            raise RegistryError(msg)
    total = sum(len(data) for data in files.values())
    if total > MAX_SKILL_BYTES:
        msg = f"the skill's files hold {total:,} bytes; the limit is {MAX_SKILL_BYTES:,}"
        raise RegistryError(msg)
    try:
        text = files["SKILL.md"].decode("utf-8")
    except UnicodeDecodeError as exc:
        msg = "SKILL.md must be UTF-8 text"
        raise RegistryError(msg) from exc
    return parse_skill_md(text), files


def python_skill_fields(name: str, source: object, entry: str | None) -> dict[str, Any]:
    """Check a Python skill's source and return its manifest fields.

    The source must define `entry` (default: the skill's own name) as a top-level
    `async def`. Its description is the docstring and its input schema comes from the
    annotations: `str int float bool`, `list[...]`, `dict[...]`, `Literal[...]`,
    `X | None`; a parameter with a default is optional. Nothing is executed.

    Raises:
        RegistryError: The source does not parse, or has no such `async def`.
    """
    if not isinstance(source, str) or not source.strip():
        msg = f"{name}: a Python skill's source is the text of an `async def`"
        raise RegistryError(msg)
    tool = name.partition(".")[2]
    entry = entry or tool
    try:
        module = ast.parse(source, filename=f"<skill {name}>")
    except SyntaxError as exc:
        msg = f"{name}: the skill's source does not parse: line {exc.lineno}: {exc.msg}"
        raise RegistryError(msg) from exc
    function = _find_function(module, entry)
    if function is None:
        defined = [n.name for n in module.body if isinstance(n, ast.AsyncFunctionDef)]
        hint = f"; it defines {', '.join(defined)}" if defined else ""
        msg = f"{name}: the source has no top-level `async def {entry}(...)`{hint}"
        raise RegistryError(msg)
    return {
        "description": ast.get_docstring(function) or "",
        "input_schema": schema_from_signature(function),
        "language": "python",
        "entry": entry,
    }


def schema_from_signature(function: ast.AsyncFunctionDef) -> dict[str, Any]:
    """Return the JSON Schema of a function's keyword arguments, from its annotations."""
    args = function.args
    if args.vararg or args.posonlyargs:
        msg = f"skill {function.name!r} takes keyword arguments only (no *args or '/')"
        raise RegistryError(msg)
    positional = args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    params = list(zip(positional, defaults, strict=True))
    params += list(zip(args.kwonlyargs, args.kw_defaults, strict=True))
    properties: dict[str, Any] = {}
    required: list[str] = []
    for arg, default in params:
        properties[arg.arg] = _annotation_schema(arg.annotation)
        if default is None:
            required.append(arg.arg)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if args.kwarg is None:
        schema["additionalProperties"] = False
    return schema


def _find_function(module: ast.Module, entry: str) -> ast.AsyncFunctionDef | None:
    found = None
    for node in module.body:
        if isinstance(node, ast.AsyncFunctionDef) and node.name == entry:
            found = node
    return found


def _annotation_schema(node: ast.expr | None) -> dict[str, Any]:
    """Map one annotation to a schema; anything unrecognised accepts any value."""
    if node is None:
        return {}
    if isinstance(node, ast.Constant):
        return _constant_schema(node.value)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _union([node.left, node.right])
    if isinstance(node, ast.Subscript):
        inner = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        return _generic_schema(_dotted(node.value), inner)
    name = _dotted(node)
    if name in _SIMPLE_TYPES:
        return {"type": _SIMPLE_TYPES[name]}
    return {"type": _CONTAINERS[name]} if name in _CONTAINERS else {}


def _constant_schema(value: object) -> dict[str, Any]:
    """`None`, or a string annotation such as `"list[str]"`."""
    if value is None:
        return {"type": "null"}
    if isinstance(value, str):
        try:
            return _annotation_schema(ast.parse(value, mode="eval").body)
        except SyntaxError:
            return {}
    return {}


def _generic_schema(name: str, inner: list[ast.expr]) -> dict[str, Any]:
    """Map `name[inner...]` (`list[str]`, `Literal["a", "b"]`, `Optional[int]`) to a schema."""
    if name == "Literal":
        return {"enum": [e.value for e in inner if isinstance(e, ast.Constant)]}
    if name in ("Optional", "Union"):
        extra = [ast.Constant(None)] if name == "Optional" else []
        return _union([*inner, *extra])
    if name in ("list", "set", "frozenset", "List", "Sequence"):
        return {"type": "array", "items": _annotation_schema(inner[0])}
    if name in ("tuple", "Tuple"):
        return {"type": "array"}
    return {"type": "object"} if name in ("dict", "Dict", "Mapping") else {}


def _union(members: list[ast.expr]) -> dict[str, Any]:
    schemas = [_annotation_schema(member) for member in members]
    if any(not schema for schema in schemas):
        return {}
    return {"anyOf": schemas}


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""
