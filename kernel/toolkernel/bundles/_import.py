"""Import tools from a folder, a bundle, a `.tar.gz`, a git or gist URL, or Skillz folders.

Everything is read and checked before anything is written: paths and archive members,
sizes, `tool.json` keys, and name collisions (a tool that exists is refused unless
`overwrite=True`, which makes a new version of it). Each tool then goes through
`ToolFactory.create`, the one path that validates, builds and stores tools, so an
imported tool is exactly what `create_tool` would have made. A bundle's history is
replayed oldest first, each version noting where it came from.

A tool (or an old version of one) that asks for grants (the network, host paths, host
secrets) is imported only once a person approved exactly its definition, with
`trust=True`; the approval is kept in the home's trust store, so the same tools import
again without a question.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkernel.bundles._export import BUNDLE_FILE, BUNDLE_FORMAT, HISTORY_DIR
from toolkernel.bundles._folder import (
    ToolSource,
    find_tool_folders,
    is_tool_folder,
    read_tool_folder,
)
from toolkernel.bundles._git import clone, git_source
from toolkernel.bundles._grants import definition_digest, tool_grants, trust_message
from toolkernel.bundles._paths import BundleLimits, extract_archive, safe_member
from toolkernel.bundles._skillz import is_skillz_folder, read_skillz_folder
from toolkernel.config import ToolGrants, TrustStore
from toolkernel.errors import BundleError, ToolchainMissing, ToolkernelError, TrustRequired

if TYPE_CHECKING:
    from toolkernel.factory import ToolFactory
    from toolkernel.registry import ToolVersion

__all__ = ["ImportedTool", "import_tools"]

LineSink = Callable[[str], None]


@dataclass(frozen=True)
class ImportedTool:
    """One tool an import wrote.

    Attributes:
        name: Its qualified name.
        version: Its current version after the import.
        status: `created`, `updated` (a new version of an existing tool) or `unchanged`.
        origin: The folder it came from.
        replayed: How many earlier versions of its history were replayed.
    """

    name: str
    version: int
    status: str
    origin: str
    replayed: int = 0


@dataclass(frozen=True)
class _Plan:
    current: ToolSource
    history: list[tuple[ToolSource, dict[str, Any]]]
    name: str = ""  # the qualified name it is stored under, once known


def import_tools(
    factory: ToolFactory,
    source: str | Path,
    *,
    overwrite: bool = False,
    namespace: str | None = None,
    history: bool = True,
    on_line: LineSink | None = None,
    limits: BundleLimits | None = None,
    trust: bool = False,
) -> list[ImportedTool]:
    """Import every tool `source` holds; return what was written.

    Args:
        factory: Builds and stores each tool (the kernel's, or the CLI's).
        source: A tool folder, a folder of tool folders, a bundle folder or `.tar.gz`,
            a Skillz tool folder (`manifest.json`), a git URL (`https://...git`,
            `git@host:repo`, `file:///path`, optionally `#branch`) or a gist
            (`https://gist.github.com/<user>/<id>`, `gist:<id>`).
        overwrite: Make a new version of tools that exist (default: refuse them).
        namespace: Put every tool (but skills) in this namespace instead.
        history: Replay a bundle's earlier versions for tools that are new here.
        on_line: Receives progress lines (builds, dependency installs).
        limits: Size and count limits for files and archives.
        trust: A person read the tools and approves the grants they ask for (network,
            host paths, secrets); the approval is recorded in the home's trust store.

    Raises:
        TrustRequired: Tools ask for grants no person approved; the message lists them
            (nothing was written).
        BundleError: The source is unreadable or unsafe, or names collide (nothing
            was written).
        RegistryError, ToolBuildError, DependencyError: A tool was refused or did not
            build; the tools imported before it stay, and the message names it.
    """
    limits = limits or BundleLimits()
    with tempfile.TemporaryDirectory(prefix="toolkernel-import-") as temp:
        work = Path(temp)
        root = _materialize(source, work, limits)
        plans = [_rehome(plan, namespace) for plan in _plans(root, limits, history)]
        if root.is_relative_to(work):  # name origins by the source, not the temp copy
            plans = [_relabel(plan, root, str(source)) for plan in plans]
        plans = _ordered([replace(plan, name=_name_of(factory, plan.current)) for plan in plans])
        existing = {v.name: v.version for v in factory.registry.registry_tools()}
        _check_collisions(plans, set(existing), overwrite, str(source))
        store = TrustStore(factory.registry.home)
        _check_grants(plans, set(existing), store, trust, str(source))
        done: list[ImportedTool] = []
        for plan in plans:
            try:
                done.append(_import_one(factory, plan, existing.get(plan.name), on_line))
            except ToolkernelError as exc:
                so_far = ", ".join(t.name for t in done) or "none"
                exc.add_note(f"while importing {plan.name} from {plan.current.origin}")
                exc.add_note(f"imported before it, and kept: {so_far}")
                raise
        return done


def _materialize(source: str | Path, work: Path, limits: BundleLimits) -> Path:
    """The local folder that holds what `source` names (cloned or extracted into `work`)."""
    if isinstance(source, str):
        repository = git_source(source)
        if repository is not None:
            return clone(repository, work / "repository", limits)
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    if path.is_file():
        extract_archive(path, work / "archive", limits)
        return work / "archive"
    msg = (
        f"nothing to import at {source!r}: give a folder, a .tar.gz bundle, a git URL "
        "(https://...git, git@host:repo, file:///path) or a gist URL"
    )
    raise BundleError(msg, path=str(source))


def _plans(root: Path, limits: BundleLimits, history: bool) -> list[_Plan]:
    if (root / BUNDLE_FILE).is_file():
        return _bundle_plans(root, limits, history)
    if is_skillz_folder(root):
        return [_Plan(read_skillz_folder(root, limits=limits), [])]
    if is_tool_folder(root):
        return [_Plan(read_tool_folder(root, limits=limits), [])]
    plans = [
        _Plan(read_tool_folder(folder, limits=limits), []) for folder in find_tool_folders(root)
    ]
    skillz = [
        child for child in sorted(root.iterdir()) if child.is_dir() and is_skillz_folder(child)
    ]
    plans += [_Plan(read_skillz_folder(folder, limits=limits), []) for folder in skillz]
    if not plans:
        msg = (
            f"no tools found in {root}: expected a tool folder (tool.json or SKILL.md), "
            f"folders of them, a bundle ({BUNDLE_FILE}) or Skillz folders (manifest.json)"
        )
        raise BundleError(msg, path=str(root))
    return plans


def _bundle_plans(root: Path, limits: BundleLimits, history: bool) -> list[_Plan]:
    try:
        manifest = json.loads((root / BUNDLE_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        msg = f"{root / BUNDLE_FILE} is not valid JSON: {exc}"
        raise BundleError(msg, path=str(root / BUNDLE_FILE)) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        msg = f"{root / BUNDLE_FILE} is not a toolkernel bundle manifest"
        raise BundleError(msg, path=str(root / BUNDLE_FILE))
    plans = []
    for entry in manifest.get("tools") or []:
        folder = root / safe_member(str(entry.get("path", "")))
        current = read_tool_folder(folder, limits=limits)
        old = _history(folder / HISTORY_DIR, limits) if history else []
        plans.append(_Plan(current, old))
    return plans


def _history(folder: Path, limits: BundleLimits) -> list[tuple[ToolSource, dict[str, Any]]]:
    if not folder.is_dir():
        return []
    numbers = sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit())
    found = []
    for number in numbers:
        record_path = folder / f"{number}.json"
        record = json.loads(record_path.read_text()) if record_path.is_file() else {}
        found.append((read_tool_folder(folder / str(number), limits=limits), record))
    return found


def _relabel(plan: _Plan, root: Path, source: str) -> _Plan:
    relative = Path(plan.current.origin).relative_to(root).as_posix()
    origin = f"{source}#{relative}" if relative != "." else source
    return replace(plan, current=replace(plan.current, origin=origin))


def _ordered(plans: list[_Plan]) -> list[_Plan]:
    """Tools first, then pipelines, each after the imported pipelines its steps call."""
    ordered = [plan for plan in plans if plan.current.kind != "pipeline"]
    waiting = [plan for plan in plans if plan.current.kind == "pipeline"]
    pending = {plan.name for plan in waiting}
    while waiting:
        ready = [plan for plan in waiting if not (_step_tools(plan.current) & pending)]
        batch = ready or waiting  # a cycle: the factory refuses it with a clear message
        for plan in batch:
            ordered.append(plan)
            pending.discard(plan.name)
        waiting = [plan for plan in waiting if plan not in batch]
    return ordered


def _step_tools(found: ToolSource) -> set[str]:
    steps = found.kwargs.get("steps") or []
    return {str(step.get("tool")) for step in steps if isinstance(step, dict)}


def _rehome(plan: _Plan, namespace: str | None) -> _Plan:
    if namespace is None:
        return plan

    def moved(found: ToolSource) -> ToolSource:
        if found.kind == "skill" or found.name is None:
            return found
        return replace(found, name=f"{namespace}.{found.name.partition('.')[2]}")

    return _Plan(moved(plan.current), [(moved(s), r) for s, r in plan.history])


def _name_of(factory: ToolFactory, found: ToolSource) -> str:
    """The qualified name the factory will store `found` under (checked, nothing written)."""
    return factory.name_for(found.name, kind=found.kind, source=found.kwargs.get("source"))


def _check_collisions(plans: list[_Plan], existing: set[str], overwrite: bool, source: str) -> None:
    names = [plan.name for plan in plans]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        msg = f"{source} holds {', '.join(twice)} more than once; nothing was imported"
        raise BundleError(msg, path=source)
    taken = sorted(set(names) & existing)
    if taken and not overwrite:
        msg = (
            f"{', '.join(taken)} already exist{'s' if len(taken) == 1 else ''}; nothing was "
            "imported. Pass overwrite=True (CLI: --overwrite) to make the imported content "
            "a new version, or namespace='...' (CLI: --namespace) to import under another name"
        )
        raise BundleError(msg, path=source)


def _check_grants(
    plans: list[_Plan], existing: set[str], store: TrustStore, trust: bool, source: str
) -> None:
    """Refuse tools whose grants no person approved, or record the approval (`trust`).

    Old versions count too (a rollback would make them current), when they are replayed.
    """
    asking = []
    for plan in plans:
        replayed = plan.history if plan.name not in existing else []
        versions = [(plan.name, plan.current)] + [
            (f"{plan.name} (history v{record.get('version', '?')})", old)
            for old, record in replayed
        ]
        for label, found in versions:
            asks = tool_grants(found)
            if asks:
                asking.append(ToolGrants(label, tuple(asks), definition_digest(plan.name, found)))
    pending = [tool for tool in asking if not store.trusts_tool(tool.digest)]
    if not pending:
        return
    if trust:
        store.approve_tools(pending)
        return
    listing = {tool.tool: tool.grants for tool in pending}
    raise TrustRequired(trust_message(source, pending), path=source, grants=listing)


def _import_one(
    factory: ToolFactory, plan: _Plan, before: int | None, on_line: LineSink | None
) -> ImportedTool:
    name, replayed = plan.name, 0
    if before is None:
        for old, record in plan.history:
            _create(factory, old, name, _history_note(record), on_line)
            replayed += 1
    origin_note = plan.current.note or f"imported from {plan.current.origin}"
    version = _create(factory, plan.current, name, origin_note, on_line)
    status = (
        "created" if before is None else "unchanged" if version.version == before else "updated"
    )
    return ImportedTool(name, version.version, status, plan.current.origin, replayed)


def _create(
    factory: ToolFactory, found: ToolSource, name: str, note: str, on_line: LineSink | None
) -> ToolVersion:
    try:
        return factory.create(name, **found.kwargs, note=note, on_line=on_line)
    except ToolchainMissing:
        if found.artifact is None:
            raise
        kwargs = dict(found.kwargs, language="wasm", source=found.artifact)
        note += f" (its prebuilt module: no {found.kwargs.get('language')} compiler here)"
        return factory.create(name, **kwargs, note=note, on_line=on_line)


def _history_note(record: dict[str, Any]) -> str:
    """`imported v2 (by ada): the original note`."""
    note = f"imported v{record.get('version', '?')}"
    if record.get("author"):
        note += f" (by {record['author']})"
    return f"{note}: {record['note']}" if record.get("note") else note
