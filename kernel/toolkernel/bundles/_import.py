"""Import tools from a folder, a bundle, a `.tar.gz`, a git or gist URL, or Skillz folders.

An import is all or nothing. Everything is read and checked before anything is
written: paths and archive members, sizes, `tool.json` keys, name collisions (a tool
that exists is refused unless `overwrite=True`, which makes a new version of it) and
grants. Each tool then goes through `ToolFactory.prepare`, the one path that validates
and builds tools, so an imported tool is exactly what `create_tool` would have made;
only when every tool is ready are they all stored, in one registry transaction. A
bundle's history is replayed oldest first, each version noting where it came from.
A Skillz `mcp` entry becomes a server of the home's `mcp.json`, written with the tools
and taken back if storing them fails.

A tool (or an old version of one) that asks for grants (the network, host paths, host
secrets) is imported only once a person approved exactly its definition, with
`trust=True`; the approval is kept in the home's trust store, so the same tools import
again without a question.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Collection
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
from toolkernel.bundles._servers import SERVER_KIND, ServerImport, server_grants
from toolkernel.bundles._skillz import is_skillz_folder, read_skillz_folder
from toolkernel.config import ToolGrants, TrustStore
from toolkernel.errors import BundleError, ToolchainMissing, ToolkernelError, TrustRequired
from toolkernel.factory import DEFAULT_NAMESPACE, SKILL_NAMESPACE

if TYPE_CHECKING:
    from toolkernel.factory import PreparedTool, ToolFactory
    from toolkernel.registry import ToolVersion

__all__ = ["ImportedTool", "import_tools"]

LineSink = Callable[[str], None]


@dataclass(frozen=True)
class ImportedTool:
    """One tool an import wrote.

    Attributes:
        name: Its qualified name (an MCP server's: its name in mcp.json).
        version: Its current version after the import (0 for an MCP server).
        status: `created`, `updated` (a new version of an existing tool, or a replaced
            server) or `unchanged`.
        origin: The folder it came from.
        replayed: How many earlier versions of its history were replayed.
        kind: Its kind (`mcp` for a server added to the home's mcp.json).
    """

    name: str
    version: int
    status: str
    origin: str
    replayed: int = 0
    kind: str = ""


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
    prepare: Callable[[ToolSource], object] | None = None,
    taken_servers: Collection[str] = (),
) -> list[ImportedTool]:
    """Import every tool `source` holds, all or nothing; return what was written.

    Every tool is read, checked, built and installed first; then all of them (and any
    replayed history) are stored in one registry transaction. A failure anywhere
    writes nothing: no tool, no version, no mcp.json entry, no approval.

    Args:
        factory: Builds and stores each tool (the kernel's, or the CLI's).
        source: A tool folder, a folder of tool folders, a bundle folder or `.tar.gz`,
            a Skillz tool folder (`manifest.json`), a git URL (`https://...git`,
            `git@host:repo`, `file:///path`, optionally `#branch`) or a gist
            (`https://gist.github.com/<user>/<id>`, `gist:<id>`).
        overwrite: Make a new version of tools that exist, and replace MCP servers of
            the same name in the home's mcp.json (default: refuse them).
        namespace: Put every tool in this namespace instead. Skills stay in `skills`
            (that namespace is theirs: `from skills import name`).
        history: Replay a bundle's earlier versions for tools that are new here.
        on_line: Receives progress lines (builds, dependency installs).
        limits: Size and count limits for files and archives.
        trust: A person read the tools and approves the grants they ask for (network,
            host paths, secrets, commands an MCP server runs); the approval is recorded
            in the home's trust store once the import succeeded.
        prepare: Called with each tool before it is checked (a kernel lets the servers
            a pipeline calls finish connecting, as `create_tool` does).
        taken_servers: MCP server names in use besides the home's mcp.json (the ones a
            kernel runs from another mcp.json).

    Raises:
        TrustRequired: Tools ask for grants no person approved; the message lists them.
        BundleError: The source is unreadable or unsafe, or names collide.
        ConfigError: A Skillz MCP server entry is not a valid mcp.json entry.
        RegistryError, ToolBuildError, DependencyError: A tool was refused or did not
            build; the message names it. In every case nothing was written.
    """
    limits = limits or BundleLimits()
    with tempfile.TemporaryDirectory(prefix="toolkernel-import-") as temp:
        work = Path(temp)
        root = _materialize(source, work, limits)
        found = _plans(root, limits, history)
        if root.is_relative_to(work):  # name origins by the source, not the temp copy
            found = [_relabel(plan, root, str(source)) for plan in found]
        servers = [plan.current for plan in found if plan.current.kind == SERVER_KIND]
        plans = [p for p in found if p.current.kind != SERVER_KIND]
        imported = {p.current.name for p in plans if p.current.name and p.current.kind != "skill"}
        plans = [_rehome(plan, namespace, imported) for plan in plans]
        plans = _ordered([replace(plan, name=_name_of(factory, plan.current)) for plan in plans])
        existing = {v.name: v.version for v in factory.registry.registry_tools()}
        _check_collisions(plans, set(existing), overwrite, str(source))
        home = factory.registry.home
        config = ServerImport(home / "mcp.json", servers, overwrite=overwrite)
        namespaces = {*factory.registry.namespaces(), *(p.name.partition(".")[0] for p in plans)}
        config.check(namespaces | {DEFAULT_NAMESPACE, SKILL_NAMESPACE}, taken_servers)
        store = TrustStore(home)
        approvals = _check_grants(
            plans, servers, set(existing), store, trust=trust, source=str(source)
        )
        prepared, counts = _prepare_all(factory, plans, existing, on_line, prepare)
        with config.written():
            versions = factory.store(prepared)
        if approvals:
            store.approve_tools(approvals)
        servers_done = [
            ImportedTool(name, 0, status, origin, kind=SERVER_KIND)
            for name, status, origin in config.report()
        ]
        return _report(plans, existing, versions, counts) + servers_done


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


def _rehome(plan: _Plan, namespace: str | None, imported: set[str]) -> _Plan:
    """`plan` moved to `namespace`, its steps calling the moved tools of this import.

    Skills stay: the `skills` namespace is theirs (`from skills import name`).
    """
    if namespace is None:
        return plan

    def moved_name(name: str) -> str:
        return f"{namespace}.{name.partition('.')[2]}"

    def moved(found: ToolSource) -> ToolSource:
        name = found.name
        if found.kind == "skill" or name is None:
            return found
        steps = found.kwargs.get("steps")
        if isinstance(steps, list):
            steps = [
                {**step, "tool": moved_name(step["tool"])}
                if isinstance(step, dict) and step.get("tool") in imported
                else step
                for step in steps
            ]
            found = replace(found, kwargs={**found.kwargs, "steps": steps})
        return replace(found, name=moved_name(name))

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
        skills = [name for name in taken if name.partition(".")[0] == SKILL_NAMESPACE]
        elsewhere = (
            ", or namespace='...' (CLI: --namespace) to import the other tools under another name"
            if len(skills) < len(taken)
            else ""
        )
        moved = (
            f". Skills stay in the {SKILL_NAMESPACE!r} namespace whatever namespace= says "
            f"(`from {SKILL_NAMESPACE} import name` finds them there): rename "
            f"{', '.join(skills)} in the source to import beside the existing one"
            if skills
            else ""
        )
        msg = (
            f"{', '.join(taken)} already exist{'s' if len(taken) == 1 else ''}; nothing was "
            "imported. Pass overwrite=True (CLI: --overwrite) to make the imported content "
            f"a new version{elsewhere}{moved}"
        )
        raise BundleError(msg, path=source)


def _check_grants(
    plans: list[_Plan],
    servers: list[ToolSource],
    existing: set[str],
    store: TrustStore,
    *,
    trust: bool,
    source: str,
) -> list[ToolGrants]:
    """The grants to approve once the import succeeded; refuse unapproved ones (no `trust`).

    Old versions count too (a rollback would make them current), when they are
    replayed; so does the command each imported MCP server runs.
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
    for server in servers:
        label = f"MCP server {server.name}"
        asks = server_grants(server)
        asking.append(ToolGrants(label, tuple(asks), definition_digest(label, server)))
    pending = [tool for tool in asking if not store.trusts_tool(tool.digest)]
    if not pending or trust:
        return pending
    listing = {tool.tool: tool.grants for tool in pending}
    raise TrustRequired(trust_message(source, pending), path=source, grants=listing)


def _prepare_all(
    factory: ToolFactory,
    plans: list[_Plan],
    existing: dict[str, int],
    on_line: LineSink | None,
    prepare: Callable[[ToolSource], object] | None,
) -> tuple[list[PreparedTool], list[int]]:
    """Check and build every version to store, in order; how many each plan gave."""
    prepared: list[PreparedTool] = []
    counts: list[int] = []
    pending: dict[str, PreparedTool] = {}
    for plan in plans:
        olds = [] if plan.name in existing else plan.history
        versions = [(old, _history_note(record)) for old, record in olds]
        versions.append((plan.current, plan.current.note or f"imported from {plan.current.origin}"))
        for found, note in versions:
            if prepare is not None:
                prepare(found)
            try:
                built = _prepare(factory, found, plan.name, note, on_line=on_line, pending=pending)
            except ToolkernelError as exc:
                exc.add_note(f"while importing {plan.name} from {plan.current.origin}")
                exc.add_note("nothing was imported")
                raise
            pending[plan.name] = built
            prepared.append(built)
        counts.append(len(versions))
    return prepared, counts


def _prepare(
    factory: ToolFactory,
    found: ToolSource,
    name: str,
    note: str,
    *,
    on_line: LineSink | None,
    pending: dict[str, PreparedTool],
) -> PreparedTool:
    try:
        return factory.prepare(name, **found.kwargs, note=note, on_line=on_line, pending=pending)
    except ToolchainMissing:
        if found.artifact is None:
            raise
        kwargs = dict(found.kwargs, language="wasm", source=found.artifact)
        note += f" (its prebuilt module: no {found.kwargs.get('language')} compiler here)"
        return factory.prepare(name, **kwargs, note=note, on_line=on_line, pending=pending)


def _report(
    plans: list[_Plan], existing: dict[str, int], versions: list[ToolVersion], counts: list[int]
) -> list[ImportedTool]:
    done = []
    at = 0
    for plan, count in zip(plans, counts, strict=True):
        at += count
        version = versions[at - 1].version
        before = existing.get(plan.name)
        status = "created" if before is None else "unchanged" if version == before else "updated"
        origin = plan.current.origin
        done.append(ImportedTool(plan.name, version, status, origin, count - 1, plan.current.kind))
    return done


def _history_note(record: dict[str, Any]) -> str:
    """`imported v2 (by ada): the original note`."""
    note = f"imported v{record.get('version', '?')}"
    if record.get("author"):
        note += f" (by {record['author']})"
    return f"{note}: {record['note']}" if record.get("note") else note
