"""Skillz tool folders: a `manifest.json` beside the tool's script or module.

Skillz keeps each tool in a folder such as::

    word_counter/
        manifest.json   {"name": "word_counter", "description": "...", "tool_type": "script",
                         "interpreter": "python3", "input_schema": {...}, "dependencies": [...]}
        word_counter.py

Script tools keep their protocol here (one JSON-RPC request in, one response out), so
they run unchanged. WASM tools bring their built `.wasm`, which is imported as a
prebuilt module; Skillz's `wasm_dependencies` (Rust crates) and any `env/` it made are
not needed for that and are ignored. Tools land in the `local` namespace.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from toolkernel.bundles._folder import ToolSource, read_files
from toolkernel.bundles._paths import BundleLimits
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
    """Map a Skillz tool folder to `create_tool` arguments.

    Raises:
        BundleError: The manifest is malformed, or the script or module is missing.
    """
    manifest = json.loads((folder / SKILLZ_MANIFEST).read_text(encoding="utf-8"))
    name = str(manifest["name"]).replace("-", "_")
    if not name.isidentifier():
        msg = f"{folder}: the Skillz tool name {manifest['name']!r} is not an identifier"
        raise BundleError(msg, path=str(folder / SKILLZ_MANIFEST))
    # env/ is the venv Skillz made for the tool; dependencies are installed afresh here.
    files = read_files(folder, limits or BundleLimits(), exclude={SKILLZ_MANIFEST, "env"})
    common: dict[str, Any] = {
        "description": str(manifest.get("description") or ""),
        "input_schema": manifest.get("input_schema") or manifest.get("schema"),
        "output_schema": manifest.get("output_schema"),
        "annotations": manifest.get("annotations"),
    }
    common = {key: value for key, value in common.items() if value is not None}
    if manifest["tool_type"] == "wasm":
        kwargs = common | {"kind": "wasm", "language": "wasm", "source": _module(folder, files)}
    elif manifest["tool_type"] == "script":
        kwargs = common | _script(folder, manifest, name, files)
    else:
        msg = f"{folder}: Skillz tool_type {manifest['tool_type']!r} is not 'script' or 'wasm'"
        raise BundleError(msg, path=str(folder / SKILLZ_MANIFEST))
    note = f"imported from the Skillz tool folder {folder.name}"
    return ToolSource(f"local.{name}", kwargs["kind"], kwargs, str(folder), note)


def _script(
    folder: Path, manifest: dict[str, Any], name: str, files: dict[str, str | bytes]
) -> dict[str, Any]:
    entry = _entry(folder, manifest, name, files)
    interpreter = str(manifest.get("interpreter") or "").strip()
    language = _INTERPRETERS.get(Path(interpreter).name) if interpreter else _by_suffix(entry)
    kwargs: dict[str, Any] = {"kind": "script", "entry": entry}
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
    declared = manifest.get("script_path") or manifest.get("entry_point")
    if isinstance(declared, str) and Path(declared).name in files:
        return Path(declared).name
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


def _module(folder: Path, files: dict[str, str | bytes]) -> bytes:
    modules = [data for path, data in files.items() if path.endswith(".wasm")]
    if len(modules) != 1 or not isinstance(modules[0], bytes):
        msg = f"{folder}: a Skillz WASM tool folder must hold its one built .wasm module"
        raise BundleError(msg, path=str(folder))
    return modules[0]
