"""Tool folders: one tool as files a person can read, edit and check into a repository.

A tool folder holds `tool.json` (the keyword arguments of `create_tool`, without
`source`) and the tool's files::

    word_count/
        tool.json     {"name": "local.word_count", "kind": "script", "language": "python",
                       "description": "...", "input_schema": {...}}
        main.py

Every other regular file, recursively, is part of the source, except hidden files and
folders and build leftovers (`__pycache__`, `node_modules`, `target`). A WASM tool may
name its built module in `"artifact"`, so it can be imported where its compiler is
missing. A folder with a `SKILL.md` and no `tool.json` is an Agent Skill.

`read_tool_folder` turns a folder into `create_tool` arguments; `write_tool_folder`
turns a stored version back into a folder. Neither runs anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkernel._nofollow import read_inside
from toolkernel.bundles._paths import BundleLimits, safe_member
from toolkernel.errors import BundleError
from toolkernel.factory import WASM_LANGUAGES

if TYPE_CHECKING:
    from toolkernel.registry import ToolRegistry, ToolVersion

__all__ = [
    "TOOL_FILE",
    "TOOL_KEYS",
    "ToolSource",
    "find_tool_folders",
    "is_tool_folder",
    "read_files",
    "read_tool_folder",
    "write_tool_folder",
]

TOOL_FILE = "tool.json"
SKILL_FILE = "SKILL.md"
TOOL_KEYS = (
    "annotations",
    "artifact",
    "command",
    "description",
    "entry",
    "input_schema",
    "kind",
    "language",
    "limits",
    "name",
    "note",
    "output",
    "output_schema",
    "packages",
    "persistent",
    "policy",
    "protocol",
    "requirements",
    "resolved",
    "secrets",
    "steps",
)
"""The keys `tool.json` may hold: `create_tool`'s arguments, plus `artifact`."""
_SKIPPED = {"__pycache__", "node_modules", "target", "venv"}
_NOT_CREATE_ARGS = {"name", "artifact", "note"}


@dataclass(frozen=True)
class ToolSource:
    """One tool read from a folder, ready for `ToolFactory.create(name, **kwargs)`.

    Attributes:
        name: The qualified name, or None when the factory derives it (an Agent Skill).
        kind: `wasm`, `script`, `pipeline` or `skill`.
        kwargs: `create` keyword arguments, `source` included.
        origin: Where it came from, for messages.
        note: The `note` the folder asks for, if any.
        artifact: A prebuilt WASM module to fall back on when the compiler is missing.
    """

    name: str | None
    kind: str
    kwargs: dict[str, Any]
    origin: str
    note: str = ""
    artifact: bytes | None = field(default=None, repr=False)


def is_tool_folder(folder: Path) -> bool:
    """Whether `folder` holds a `tool.json` or a `SKILL.md`."""
    return (folder / TOOL_FILE).is_file() or (folder / SKILL_FILE).is_file()


def find_tool_folders(root: Path) -> list[Path]:
    """`root` if it is a tool folder, else every tool folder below it (not inside one)."""
    if is_tool_folder(root):
        return [root]
    found = []
    for child in sorted(root.iterdir()):
        if child.is_dir() and not child.is_symlink() and not _skipped(child.name):
            found += find_tool_folders(child)
    return found


def read_tool_folder(folder: Path, *, limits: BundleLimits | None = None) -> ToolSource:
    """Read one tool folder into `create_tool` arguments, checking everything first.

    Raises:
        BundleError: No `tool.json` or `SKILL.md`, invalid JSON, unknown keys, a
            symlink out of the folder, or files over `limits`.
    """
    limits = limits or BundleLimits()
    if not (folder / TOOL_FILE).is_file():
        if (folder / SKILL_FILE).is_file():
            files = read_files(folder, limits, exclude=set())
            kwargs = {"kind": "skill", "language": "markdown", "source": files}
            return ToolSource(None, "skill", kwargs, str(folder))
        msg = f"{folder} is not a tool folder: it has neither {TOOL_FILE} nor {SKILL_FILE}"
        raise BundleError(msg, path=str(folder))
    spec = _read_tool_json(folder)
    kind = _kind(spec, folder)
    artifact_path = spec.get("artifact")
    exclude = {TOOL_FILE} | ({artifact_path} if isinstance(artifact_path, str) else set())
    files = read_files(folder, limits, exclude=exclude) if kind != "pipeline" else {}
    kwargs = {k: v for k, v in spec.items() if k not in _NOT_CREATE_ARGS} | {"kind": kind}
    if kind != "pipeline":
        kwargs["source"] = _source(spec, kind, files, folder)
    name = spec.get("name")
    if name is None and kind != "skill":
        name = f"local.{folder.name}"
    artifact = _artifact(folder, artifact_path, limits) if artifact_path else None
    return ToolSource(name, kind, kwargs, str(folder), str(spec.get("note") or ""), artifact)


def _read_tool_json(folder: Path) -> dict[str, Any]:
    path = folder / TOOL_FILE
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        msg = f"{path} is not valid JSON: {exc}"
        raise BundleError(msg, path=str(path)) from exc
    if not isinstance(spec, dict):
        msg = f"{path} must hold a JSON object of create_tool arguments"
        raise BundleError(msg, path=str(path))
    unknown = sorted(set(spec) - set(TOOL_KEYS))
    if unknown:
        msg = f"{path}: unknown keys {', '.join(unknown)}; allowed: {', '.join(TOOL_KEYS)}"
        raise BundleError(msg, path=str(path))
    return spec


def _kind(spec: dict[str, Any], folder: Path) -> str:
    kind = spec.get("kind")
    if isinstance(kind, str):
        return kind
    if "steps" in spec:
        return "pipeline"
    language = spec.get("language")
    if language in WASM_LANGUAGES:
        return "wasm"
    if isinstance(language, str):
        return "script"
    msg = f'{folder / TOOL_FILE}: give "kind" (wasm, script, pipeline, skill) or "language"'
    raise BundleError(msg, path=str(folder / TOOL_FILE))


def _source(spec: dict[str, Any], kind: str, files: dict[str, str | bytes], folder: Path) -> Any:
    """The `source` argument: bytes for a prebuilt module, else {path: text}."""
    language = spec.get("language")
    if kind == "wasm" and language == "wasm":
        modules = [data for path, data in files.items() if path.endswith(".wasm")]
        if len(modules) != 1 or not isinstance(modules[0], bytes):
            msg = f"{folder}: a prebuilt WASM tool holds exactly one .wasm file"
            raise BundleError(msg, path=str(folder))
        return modules[0]
    if kind == "skill" and language == "markdown":
        return files
    binary = sorted(path for path, data in files.items() if isinstance(data, bytes))
    if binary:
        msg = f"{folder}: {', '.join(binary)} are not UTF-8 text; a {kind} tool's files are text"
        raise BundleError(msg, path=str(folder / binary[0]))
    if kind == "skill":
        python = [path for path in files if path.endswith(".py")]
        if len(python) != 1:
            msg = f"{folder}: a Python skill holds exactly one .py file (found {len(python)})"
            raise BundleError(msg, path=str(folder))
        return files[python[0]]
    return files


def read_files(folder: Path, limits: BundleLimits, *, exclude: set[str]) -> dict[str, str | bytes]:
    """Every regular file under `folder` (but `exclude`d paths and folders), checked."""
    files: dict[str, str | bytes] = {}
    total = 0
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        excluded = relative in exclude or any(relative.startswith(f"{e}/") for e in exclude)
        if excluded or any(_skipped(part) for part in relative.split("/")):
            continue
        if path.is_symlink():
            if not path.resolve().is_relative_to(folder.resolve()):
                msg = f"refused {path}: a symlink to {path.resolve()}, outside the tool folder"
                raise BundleError(msg, path=str(path))
            continue  # a link inside the folder: its target is read as itself
        if not path.is_file():
            continue
        safe_member(relative)
        data = read_inside(folder, relative, limits.file_bytes)  # no link on the way
        if data is None:
            msg = f"refused {path}: over the size limit ({limits}), or reached through a link"
            raise BundleError(msg, path=str(path))
        total += len(data)
        if total > limits.total_bytes:
            msg = f"refused {path}: the tool's files are over the size limit ({limits})"
            raise BundleError(msg, path=str(path))
        # A module is bytes even when it happens to be valid UTF-8.
        files[relative] = data if relative.endswith(".wasm") else _text_or_bytes(data)
    return files


def _artifact(folder: Path, artifact_path: object, limits: BundleLimits) -> bytes:
    if not isinstance(artifact_path, str):
        msg = f'{folder / TOOL_FILE}: "artifact" is the relative path of a built .wasm'
        raise BundleError(msg, path=str(folder / TOOL_FILE))
    path = folder / safe_member(artifact_path)
    data = read_inside(folder, artifact_path, limits.file_bytes)
    if data is None:
        msg = (
            f"{folder}: the artifact {artifact_path!r} is missing, too large, or reached "
            "through a link; build it inside the tool folder"
        )
        raise BundleError(msg, path=str(path))
    return data


def _text_or_bytes(data: bytes) -> str | bytes:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def _skipped(name: str) -> bool:
    return name.startswith(".") or name in _SKIPPED


def write_tool_folder(registry: ToolRegistry, version: ToolVersion, folder: Path) -> None:
    """Write `version` as a tool folder (`tool.json` and its files) into `folder`."""
    manifest = version.manifest
    folder.mkdir(parents=True, exist_ok=True)
    for relative, sha in (manifest.get("source") or {}).items():
        target = folder / safe_member(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(registry.get_blob(sha))
    if version.kind == "skill" and manifest.get("language") == "markdown":
        return  # SKILL.md says everything
    spec: dict[str, Any] = {"name": version.name, "kind": version.kind}
    spec |= {k: v for k, v in manifest.items() if k in TOOL_KEYS and v not in (None, [], {})}
    spec.pop("artifact", None)
    built = manifest.get("artifact")
    if version.kind == "wasm" and built and manifest.get("language") != "wasm":
        spec["artifact"] = "build/module.wasm"
        (folder / "build").mkdir(exist_ok=True)
        (folder / "build" / "module.wasm").write_bytes(registry.get_blob(built))
    (folder / TOOL_FILE).write_text(json.dumps(spec, indent=1, sort_keys=True) + "\n")
