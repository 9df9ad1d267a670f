"""Skillz tool folders: a `manifest.json` beside the tool's script or module.

Skillz keeps each tool in a folder such as::

    word_counter/
        manifest.json   {"name": "word_counter", "description": "...", "tool_type": "script",
                         "interpreter": "python3", "input_schema": {...}, "dependencies": [...]}
        word_counter.py

Skillz writes `manifest.json` with `tool_type` (`wasm`, `script`, `pipeline`, `mcp`),
keeps the venv it made in `env/`, and backs up each replaced version under
`versions/<semver>/`. Only the folder's top level is the tool: `env/` and `versions/`
are left out.

- `script`: the protocol is kept (one JSON-RPC request in, one response out), so it
  runs unchanged; `entry_file` names the script, and other files (helper modules) come
  along.
- `wasm`: `<name>.wasm` is imported as a prebuilt module, always read as bytes. Skillz
  hands back whatever the module prints as a string, so the tool is made with
  `output="text"`. Its `src.rs` and `wasm_dependencies` are not needed for that.
- `pipeline`: `pipeline_steps` become steps: `name` becomes the step's `id`,
  `condition` its `when`, and Skillz's whole-string variables (`$input.x`, `$prev`,
  `$prev.x`, `$<step>.x`) the `${...}` references they mean.
- `mcp`: `mcp_server` (`command`, `args`, `env`) becomes a server of the home's
  `mcp.json`, named as Skillz named it (`bundles._servers`).

Tools land in the `local` namespace.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from toolkernel.bundles._folder import ToolSource, read_files
from toolkernel.bundles._paths import BundleLimits
from toolkernel.bundles._servers import SERVER_KIND
from toolkernel.errors import BundleError

__all__ = ["SKILLZ_MANIFEST", "is_skillz_folder", "read_skillz_folder"]

SKILLZ_MANIFEST = "manifest.json"
_INTERPRETERS = {
    "python": "python",
    "python3": "python",
    "node": "node",
    "nodejs": "node",
    "ruby": "ruby",
    "bash": "bash",
    "sh": "bash",
}
_SCRIPT_SUFFIXES = (".py", ".js", ".mjs", ".rb", ".sh")
_NOT_THE_TOOL = {SKILLZ_MANIFEST, "env", "versions"}
"""The manifest, Skillz's venv and its backups of earlier versions."""
_ID_CHARS = re.compile(r"[^A-Za-z0-9_]")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_VARIABLE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_-]*)((?:\.[A-Za-z0-9_-]+)*)")


def is_skillz_folder(folder: Path) -> bool:
    """Whether `folder` holds a Skillz `manifest.json` naming a tool."""
    path = folder / SKILLZ_MANIFEST
    if not path.is_file():
        return False
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(manifest, dict) and "name" in manifest and "tool_type" in manifest


def read_skillz_folder(folder: Path, *, limits: BundleLimits | None = None) -> ToolSource:
    """Map a Skillz tool folder to `create_tool` arguments (or, for `mcp`, a server).

    Raises:
        BundleError: The manifest is malformed, or the script or module is missing.
    """
    manifest = json.loads((folder / SKILLZ_MANIFEST).read_text(encoding="utf-8"))
    name = _identifier(folder, str(manifest["name"]))
    tool_type = manifest["tool_type"]
    note = f"imported from the Skillz tool folder {folder.name}"
    if tool_type == "mcp":
        server = _server(folder, manifest)
        return ToolSource(str(manifest["name"]), SERVER_KIND, server, str(folder), note)
    common: dict[str, Any] = {
        "description": str(manifest.get("description") or ""),
        "input_schema": manifest.get("input_schema") or manifest.get("schema"),
        "output_schema": manifest.get("output_schema"),
        "annotations": manifest.get("annotations"),
    }
    common = {key: value for key, value in common.items() if value is not None}
    if tool_type == "pipeline":
        kwargs = common | {"kind": "pipeline", "steps": _steps(folder, manifest)}
        return ToolSource(f"local.{name}", "pipeline", kwargs, str(folder), note)
    files = read_files(folder, limits or BundleLimits(), exclude=_NOT_THE_TOOL)
    if tool_type == "wasm":
        module = _module(folder, str(manifest["name"]), files)
        kwargs = common | {"kind": "wasm", "language": "wasm", "source": module, "output": "text"}
    elif tool_type == "script":
        kwargs = common | _script(folder, manifest, name, files)
    else:
        msg = (
            f"{folder}: Skillz tool_type {tool_type!r} is not 'script', 'wasm', 'pipeline' or 'mcp'"
        )
        raise BundleError(msg, path=str(folder / SKILLZ_MANIFEST))
    return ToolSource(f"local.{name}", kwargs["kind"], kwargs, str(folder), note)


def _identifier(folder: Path, name: str) -> str:
    """A Skillz tool name as a Python identifier (`word-count` is `word_count`)."""
    identifier = name.replace("-", "_")
    if not identifier.isidentifier():
        msg = f"{folder}: the Skillz tool name {name!r} is not an identifier"
        raise BundleError(msg, path=str(folder / SKILLZ_MANIFEST))
    return identifier


def _server(folder: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    config = manifest.get("mcp_server")
    if not isinstance(config, dict) or not isinstance(config.get("command"), str):
        msg = f'{folder}: a Skillz mcp tool needs "mcp_server": {{"command", "args", "env"}}'
        raise BundleError(msg, path=str(folder / SKILLZ_MANIFEST))
    entry: dict[str, Any] = {"command": config["command"], "args": config.get("args") or []}
    if config.get("env"):
        entry["env"] = config["env"]
    return {"entry": entry}


def _steps(folder: Path, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Skillz `pipeline_steps` as our steps (the pipeline kind checks them)."""
    given = manifest.get("pipeline_steps")
    if not isinstance(given, list) or not given:
        msg = f'{folder}: a Skillz pipeline needs a non-empty "pipeline_steps" list'
        raise BundleError(msg, path=str(folder / SKILLZ_MANIFEST))
    ids: dict[str, str] = {}
    steps = []
    for number, step in enumerate(given, 1):
        if not isinstance(step, dict) or not isinstance(step.get("tool"), str):
            msg = f'{folder}: pipeline step {number} needs a "tool" name'
            raise BundleError(msg, path=str(folder / SKILLZ_MANIFEST))
        named = step.get("name")
        step_id = _ID_CHARS.sub("_", str(named)) if named else f"step_{number}"
        if not step_id.isidentifier() or step_id in ids.values():
            step_id = f"step_{number}"
        tool = step["tool"] if "." in step["tool"] else f"local.{step['tool'].replace('-', '_')}"
        mapped: dict[str, Any] = {
            "id": step_id,
            "tool": tool,
            "args": _references(step.get("args") or {}, ids),
        }
        if step.get("condition"):
            mapped["when"] = _condition(folder, number, str(step["condition"]), ids)
        if step.get("continue_on_error") is True:
            mapped["continue_on_error"] = True
        if named:
            ids[str(named)] = step_id
        steps.append(mapped)
    return steps


def _references(value: Any, ids: dict[str, str]) -> Any:
    """Skillz's whole-string `$...` variables in `value` as `${...}` references."""
    if isinstance(value, dict):
        return {key: _references(item, ids) for key, item in value.items()}
    if isinstance(value, list):
        return [_references(item, ids) for item in value]
    if isinstance(value, str):
        return _reference(value, ids) or value
    return value


def _reference(text: str, ids: dict[str, str]) -> str | None:
    """`$input.x` as `${input.x}`, `$prev.x` as `${prev.x}`, `$fetch.x` as a step's result."""
    match = _VARIABLE.fullmatch(text.strip())
    if match is None:
        return None
    head, dotted = match.groups()
    # Skillz looks each part up as an object key: `.0` is the key "0", never an index.
    path = "".join(
        f".{part}" if _KEY.fullmatch(part) else f"['{part}']" for part in dotted.split(".")[1:]
    )
    if head in {"input", "prev"}:
        return f"${{{head}{path}}}"
    if head in ids:
        return f"${{steps.{ids[head]}.result{path}}}"
    return None  # not a variable Skillz knows: it stays text, as Skillz would fail on it


def _condition(folder: Path, number: int, condition: str, ids: dict[str, str]) -> str:
    """A Skillz `condition` (`$prev.ok == true`, `$input.x != a`, `$x`) as a `when`."""
    for op in ("==", "!="):
        if op in condition:
            left, right = (part.strip() for part in condition.split(op, 1))
            reference = _reference(left, ids)
            if reference is None or right.startswith("$"):
                break
            return f"{reference} {op} {_literal(right)}"
    else:
        reference = _reference(condition, ids)
        if reference is not None:
            return reference
    msg = (
        f"{folder}: pipeline step {number}'s condition {condition!r} cannot be imported: a "
        "condition here is one variable ($input.x, $prev.x, $<step>.x), optionally "
        "compared (== or !=) with a literal"
    )
    raise BundleError(msg, path=str(folder / SKILLZ_MANIFEST))


def _literal(text: str) -> str:
    """A Skillz literal as ours: true, false, null and numbers stay; the rest is a string."""
    if text in {"true", "false", "null"} or re.fullmatch(r"-?\d+(\.\d+)?", text):
        return text
    return json.dumps(text.strip("\"'"))


def _script(
    folder: Path, manifest: dict[str, Any], name: str, files: dict[str, str | bytes]
) -> dict[str, Any]:
    entry = _entry(folder, manifest, name, files)
    interpreter = str(manifest.get("interpreter") or "").strip()
    language = _INTERPRETERS.get(Path(interpreter).name) if interpreter else _by_suffix(entry)
    # Skillz's own reply shapes (`{"output": ...}`, `{"success": true}`) for its scripts.
    kwargs: dict[str, Any] = {"kind": "script", "entry": entry, "protocol": "skillz"}
    if language is None:
        kwargs |= {"language": "command", "command": interpreter.split()}
    else:
        kwargs["language"] = language
    dependencies = [str(d) for d in manifest.get("dependencies") or []]
    if dependencies and language == "python":
        kwargs["requirements"] = dependencies
    elif dependencies and language == "node":
        kwargs["packages"] = dependencies
    text = {path: data for path, data in files.items() if isinstance(data, str)}
    kwargs["source"] = text
    return kwargs


def _entry(folder: Path, manifest: dict[str, Any], name: str, files: dict[str, Any]) -> str:
    declared = manifest.get("entry_file") or manifest.get("script_path")
    declared = declared or manifest.get("entry_point")
    if isinstance(declared, str) and declared in files:
        return declared  # `entry_file`, relative to the folder as Skillz joins it
    if isinstance(declared, str) and Path(declared).name in files:
        return Path(declared).name  # an older manifest's absolute `script_path`
    scripts = [path for path in files if path.endswith(_SCRIPT_SUFFIXES) and "/" not in path]
    own = [path for path in scripts if Path(path).stem == name]
    if own or len(scripts) == 1:
        return (own or scripts)[0]
    msg = f"{folder}: cannot tell which file is the Skillz script; found {scripts or 'none'}"
    raise BundleError(msg, path=str(folder))


def _by_suffix(entry: str) -> str | None:
    suffix = Path(entry).suffix
    return {".py": "python", ".js": "node", ".mjs": "node", ".rb": "ruby", ".sh": "bash"}.get(
        suffix
    )


def _module(folder: Path, name: str, files: dict[str, str | bytes]) -> bytes:
    """`<name>.wasm`, where Skillz keeps the module (else the folder's one `.wasm`)."""
    own = files.get(f"{name}.wasm")
    modules = [data for path, data in files.items() if path.endswith(".wasm") and "/" not in path]
    module = own if own is not None else modules[0] if len(modules) == 1 else None
    if not isinstance(module, bytes):
        found = sorted(path for path in files if path.endswith(".wasm")) or "none"
        msg = (
            f"{folder}: a Skillz WASM tool folder keeps its built module as {name}.wasm "
            f"beside manifest.json; found {found}"
        )
        raise BundleError(msg, path=str(folder))
    return module
