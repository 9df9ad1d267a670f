"""Registry changes and the audit log over the tool host's socket.

A sandboxed kernel has only a throwaway registry of its own: the real one is outside,
where `toolkernel host` runs. So the host serves the kernel's `RegistryChanges`
(`create_tool` of every kind, new versions, rollback, delete, restore, versions, diffs,
the call history) as `registry/*` requests, and applies each with the same
`ToolChanges` a plain kernel uses in process: the same names, checks, builds (in the
host's process sandbox) and errors. The host also records every call it serves in the
real registry's call history (`CallAudit`); the kernel cannot write or erase it.

Methods (kernel to host): `registry/create` `{"draft", "binary"}`, `registry/rollback`
`{"name", "version", "note"}`, `registry/delete` and `registry/restore` `{"name",
"note"}`, `registry/versions` `{"name"}`, `registry/version` `{"name", "version"}`,
`registry/diff` `{"name", "a", "b"}`, `registry/history` `{"limit", "tool"}`, and for
skills `registry/tools` `{"namespace"}` and `registry/blob` `{"sha"}` (`{"base64"}`). A
version travels as `ToolVersion`'s fields, a call record as `CallRecord`'s.

What the kernel sends is treated as hostile: every field is type-checked here, then the
factory and the registry check it as they do in process; a draft asking for more than
the tool sandbox gives (network, host paths, secrets) is refused, since only a person
outside the sandbox may grant those.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import getpass
import re
import socket
import struct
from collections import deque
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any, cast

from toolkernel.errors import RegistryError
from toolkernel.host._wire import INVALID_PARAMS, METHOD_NOT_FOUND, RpcError

if TYPE_CHECKING:
    from toolkernel._spec import ToolResult, ToolSpec
    from toolkernel.factory import ToolChanges
    from toolkernel.host._host import ToolHost
    from toolkernel.host._remote import RemoteToolHost
    from toolkernel.kinds import LineSink, ToolDraft
    from toolkernel.registry import CallRecord, ToolRegistry, ToolVersion

__all__ = ["CallAudit", "RegistryHandlers", "RemoteToolChanges"]

BUILD_WAIT_S = 1800.0
"""The longest a `registry/create` is waited for (a Rust build with its crates)."""
MAX_BUILD_LINES = 2000
"""The last lines of a build's output the host sends back with its answer."""
_SHA256 = re.compile(r"[0-9a-f]{64}")
_BINARY = "binary"
"""The key of a draft's base64-encoded bytes: `"source"`, or `"source/<path>"`."""


# -- the host's side ------------------------------------------------------------------------


class RegistryHandlers:
    """Serves `registry/*` requests against the host's real registry.

    Blocking work (builds, SQLite) runs in a worker thread, so the host keeps serving
    calls meanwhile. The registry tells the host's `ToolHost` of each new version as it
    is stored, so the kernel hears the catalog change before the answer.
    """

    def __init__(
        self,
        host: ToolHost,
        registry: ToolRegistry,
        *,
        servers: Collection[str],
        sandbox_backend: str | None,
        connect_timeout: float,
        audit: CallAudit | None = None,
    ) -> None:
        """Build the factory the kernel's changes go through (nothing is built yet).

        Args:
            host: The host's `ToolHost`: its catalog is what pipelines are checked against.
            registry: The real registry.
            servers: The configured servers' names (namespaces a tool may not take).
            sandbox_backend: The process sandbox builds and installs run in.
            connect_timeout: How long a pipeline's servers are waited for.
            audit: Flushed before the history is read, so it shows every call served.
        """
        from toolkernel.factory import ToolChanges, ToolFactory  # noqa: PLC0415 - no cycle

        self._host = host
        self._servers = frozenset(servers)
        self._connect_timeout = connect_timeout
        self._audit = audit
        self._live: dict[str, set[str]] = {}
        host.subscribe(self._catalog_changed)
        factory = ToolFactory(
            registry,
            self._live_names,
            reserved=self._servers,
            cache_dir=registry.home / "cache",
            author=_user_name(),
            sandbox_backend=sandbox_backend,
        )
        self.changes: ToolChanges = ToolChanges(factory, registry)

    async def serve(self, method: str, params: dict[str, Any]) -> Any:
        """Answer one `registry/*` request.

        Raises:
            RpcError: An unknown method, or a parameter of the wrong type.
            ToolkernelError: What the factory or the registry raised (the same class).
        """
        handler = _REGISTRY_METHODS.get(method)
        if handler is None:
            msg = (
                f"the tool host has no method {method!r}; it serves {', '.join(_REGISTRY_METHODS)}"
            )
            raise RpcError(msg, code=METHOD_NOT_FOUND)
        return await handler(self, params)

    async def create(self, params: dict[str, Any]) -> dict[str, Any]:
        draft = _draft_from_json(params.get("draft"), params.get(_BINARY))
        _refuse_grants(draft)
        await self._wait_for_step_servers(draft)
        lines: deque[str] = deque(maxlen=MAX_BUILD_LINES)
        version = await asyncio.to_thread(self.changes.create, draft, on_line=lines.append)
        return {"version": version_to_json(version), "lines": list(lines)}

    async def rollback(self, params: dict[str, Any]) -> dict[str, Any]:
        name, note = _name(params), _optional_text(params, "note")
        version = _integer(params, "version")
        done = await asyncio.to_thread(self.changes.rollback, name, version, note=note)
        return version_to_json(done)

    async def delete(self, params: dict[str, Any]) -> dict[str, Any]:
        name, note = _name(params), _optional_text(params, "note")
        done = await asyncio.to_thread(self.changes.delete, name, note=note)
        return version_to_json(done)

    async def restore(self, params: dict[str, Any]) -> dict[str, Any]:
        name, note = _name(params), _optional_text(params, "note")
        done = await asyncio.to_thread(self.changes.restore, name, note=note)
        return version_to_json(done)

    async def versions(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        found = await asyncio.to_thread(self.changes.versions, _name(params))
        return [version_to_json(v) for v in found]

    async def version(self, params: dict[str, Any]) -> dict[str, Any]:
        name = _text(params, "name")
        number = _integer(params, "version") if params.get("version") is not None else None
        return version_to_json(await asyncio.to_thread(self.changes.version, name, number))

    async def diff(self, params: dict[str, Any]) -> str:
        a = _integer(params, "a")
        b = _integer(params, "b") if params.get("b") is not None else None
        return await asyncio.to_thread(self.changes.diff, _name(params), a, b)

    async def blob(self, params: dict[str, Any]) -> dict[str, str]:
        sha = _text(params, "sha")
        if not _SHA256.fullmatch(sha):
            msg = f"'sha' must be a sha256 in hex, not {sha[:80]!r}"
            raise RpcError(msg, code=INVALID_PARAMS)
        data = await asyncio.to_thread(self.changes.registry.get_blob, sha)
        return {"base64": base64.b64encode(data).decode("ascii")}

    async def tools(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        namespace = _optional_text(params, "namespace")
        found = await asyncio.to_thread(self.changes.registry.registry_tools, namespace)
        return [version_to_json(v) for v in found]

    async def history(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        limit = _integer(params, "limit")
        tool = _optional_text(params, "tool")
        if self._audit is not None:
            await asyncio.to_thread(self._audit.flush)
        found = await asyncio.to_thread(self.changes.history, limit, tool=tool)
        return [record.to_json() for record in found]

    async def _wait_for_step_servers(self, draft: ToolDraft) -> None:
        """Let the servers a pipeline's steps name connect first, as `create_tool` does."""
        if not draft.steps or not isinstance(draft.steps, list | tuple):
            return
        named = {
            str(step.get("tool", "")).partition(".")[0]
            for step in draft.steps
            if isinstance(step, Mapping)
        }
        servers = named & self._servers
        if servers:
            await self._host.statuses(sorted(servers), settle=self._connect_timeout)

    def _catalog_changed(self, source: str, specs: list[ToolSpec]) -> None:
        self._live = {**self._live, source: {spec.qualified_name for spec in specs}}

    def _live_names(self) -> set[str]:
        return {name for names in self._live.values() for name in names}


_REGISTRY_METHODS: dict[str, Callable[[RegistryHandlers, dict[str, Any]], Any]] = {
    "registry/create": RegistryHandlers.create,
    "registry/rollback": RegistryHandlers.rollback,
    "registry/delete": RegistryHandlers.delete,
    "registry/restore": RegistryHandlers.restore,
    "registry/versions": RegistryHandlers.versions,
    "registry/version": RegistryHandlers.version,
    "registry/diff": RegistryHandlers.diff,
    "registry/history": RegistryHandlers.history,
    "registry/blob": RegistryHandlers.blob,
    "registry/tools": RegistryHandlers.tools,
}


class CallAudit:
    """The host's audit log: each call it serves, written to the real call history.

    One per `HostService`; records carry `session` (`host <socket>`, which names the
    kernel: one host serves one kernel) and the calling process's pid as the kernel
    reported it to the socket (`SO_PEERCRED`, in the host's pid namespace).
    """

    def __init__(self, registry: ToolRegistry, session: str, *, keep: int | None = None) -> None:
        """Record into `registry`, keeping its newest `keep` rows (default: the usual)."""
        from toolkernel.registry import HISTORY_KEEP  # noqa: PLC0415
        from toolkernel.session._calls import CallRecorder  # noqa: PLC0415 - no cycle

        self.session = session
        self._recorder = CallRecorder(registry, keep=HISTORY_KEEP if keep is None else keep)

    def start(
        self, tool: str, arguments: Any
    ) -> Callable[[ToolResult | BaseException, int | None], None]:
        """Note a call's start; the returned function records how it ended (and the pid)."""
        from toolkernel.session._calls import CallNote  # noqa: PLC0415

        note = CallNote(tool, arguments if isinstance(arguments, dict) else {}, None)

        def end(outcome: ToolResult | BaseException, pid: int | None) -> None:
            record = (
                note.failed(outcome)
                if isinstance(outcome, BaseException)
                else note.answered(outcome)
            )
            self._recorder.add(dataclasses.replace(record, pid=pid, session=self.session))

        return end

    def flush(self) -> None:
        """Wait (bounded) until what was recorded is written."""
        self._recorder.flush()

    def close(self) -> None:
        """Write what is queued and stop the writer."""
        self._recorder.close()


# -- the kernel's side ----------------------------------------------------------------------


class RemoteToolChanges:
    """`RegistryChanges` served by the kernel's `toolkernel host` (a sandboxed kernel).

    Each method is one `registry/*` request, run to completion from synchronous code
    (an interrupt cancels it on the host); errors are raised as the host raised them
    (the same class and message). A build's output comes back with its answer.
    """

    def __init__(self, host: RemoteToolHost) -> None:
        """Send changes to `host`'s `toolkernel host`."""
        self._host = host

    def create(self, draft: ToolDraft, *, on_line: LineSink | None = None) -> ToolVersion:
        """Build and store `draft` in the host; its build output goes to `on_line` after."""
        params = draft_to_json(draft)
        answer = self._ask("registry/create", params, wait=BUILD_WAIT_S)
        if on_line is not None:
            for line in answer.get("lines") or ():
                on_line(str(line))
        return version_from_json(answer["version"])

    def rollback(self, name: str, version: int, *, note: str | None = None) -> ToolVersion:
        """As `ToolChanges.rollback`, in the host."""
        params = {"name": name, "version": version, "note": note}
        return version_from_json(self._ask("registry/rollback", params))

    def delete(self, name: str, *, note: str | None = None) -> ToolVersion:
        """As `ToolChanges.delete`, in the host."""
        return version_from_json(self._ask("registry/delete", {"name": name, "note": note}))

    def restore(self, name: str, *, note: str | None = None) -> ToolVersion:
        """As `ToolChanges.restore`, in the host."""
        return version_from_json(self._ask("registry/restore", {"name": name, "note": note}))

    def versions(self, name: str) -> list[ToolVersion]:
        """As `ToolChanges.versions`, in the host."""
        return [version_from_json(v) for v in self._ask("registry/versions", {"name": name})]

    def version(self, name: str, version: int | None = None) -> ToolVersion:
        """As `ToolChanges.version`, in the host."""
        params = {"name": name, "version": version}
        return version_from_json(self._ask("registry/version", params))

    def diff(self, name: str, a: int, b: int | None = None) -> str:
        """As `ToolChanges.diff`, in the host."""
        return str(self._ask("registry/diff", {"name": name, "a": a, "b": b}))

    def history(self, limit: int = 20, *, tool: str | None = None) -> list[CallRecord]:
        """The host's call history (its audit log, of every process on its home)."""
        from toolkernel.registry import CallRecord  # noqa: PLC0415

        known = {f.name for f in dataclasses.fields(CallRecord)}
        rows = self._ask("registry/history", {"limit": limit, "tool": tool})
        return [CallRecord(**{k: v for k, v in row.items() if k in known}) for row in rows]

    # The registry reads skills need (`SkillLibrary`), with `ToolRegistry`'s names.

    def tool_version(self, name: str, version: int | None = None) -> ToolVersion:
        """As `ToolRegistry.tool_version`, in the host's registry."""
        return self.version(name, version)

    def get_blob(self, sha: str) -> bytes:
        """As `ToolRegistry.get_blob`, in the host's registry."""
        answer = self._ask("registry/blob", {"sha": sha})
        return base64.b64decode(answer["base64"])

    def registry_tools(self, namespace: str | None = None) -> list[ToolVersion]:
        """As `ToolRegistry.registry_tools`, in the host's registry."""
        found = self._ask("registry/tools", {"namespace": namespace})
        return [version_from_json(v) for v in found]

    def _ask(self, method: str, params: dict[str, Any], *, wait: float = 0.0) -> Any:
        return self._host.registry_request_blocking(method, params, wait=wait)


# -- codecs ---------------------------------------------------------------------------------


def version_to_json(version: ToolVersion) -> dict[str, Any]:
    """A `ToolVersion` as a JSON object (its fields by name)."""
    return dataclasses.asdict(version)


def version_from_json(data: Any) -> ToolVersion:
    """The `ToolVersion` a host sent (unknown fields are dropped).

    Raises:
        RpcError: It is not a version.
    """
    from toolkernel.registry import ToolVersion  # noqa: PLC0415

    if not isinstance(data, dict):
        msg = f"the tool host answered with no tool version: {data!r:.200}"
        raise RpcError(msg)
    known = {f.name for f in dataclasses.fields(ToolVersion)}
    return ToolVersion(**{k: v for k, v in data.items() if k in known})


def draft_to_json(draft: ToolDraft) -> dict[str, Any]:
    """`{"draft", "binary"}`: the draft's fields, bytes as base64 named in `binary`."""
    fields = {f.name: getattr(draft, f.name) for f in dataclasses.fields(draft)}
    binary: list[str] = []
    source = fields["source"]
    if isinstance(source, bytes):
        fields["source"] = base64.b64encode(source).decode("ascii")
        binary.append("source")
    elif isinstance(source, Mapping):
        files = dict(source)
        for path, content in files.items():
            if isinstance(content, bytes):
                files[path] = base64.b64encode(content).decode("ascii")
                binary.append(f"source/{path}")
        fields["source"] = files
    for key, value in fields.items():
        if isinstance(value, tuple):
            fields[key] = list(value)
    return {"draft": fields, _BINARY: binary}


def _draft_from_json(fields: Any, binary: Any) -> ToolDraft:
    """The draft a kernel sent, checked as `create_tool` checks its arguments.

    Raises:
        RegistryError: An unknown field or a malformed one (as in process).
        RpcError: Not an object, or bad base64.
    """
    from toolkernel.kinds import ToolDraft  # noqa: PLC0415

    if not isinstance(fields, dict):
        msg = "registry/create needs a 'draft' object (create_tool's arguments)"
        raise RpcError(msg, code=INVALID_PARAMS)
    fields = dict(fields)
    marks = binary if isinstance(binary, list) else []
    source = fields.get("source")
    try:
        if "source" in marks and isinstance(source, str):
            fields["source"] = base64.b64decode(source, validate=True)
        elif isinstance(source, dict):
            files = dict(source)
            for path, content in files.items():
                if f"source/{path}" in marks and isinstance(content, str):
                    files[path] = base64.b64decode(content, validate=True)
            fields["source"] = files
    except (binascii.Error, ValueError) as exc:
        msg = f"registry/create: a binary source is not base64: {exc}"
        raise RpcError(msg, code=INVALID_PARAMS) from exc
    return ToolDraft.from_arguments(fields)


def _refuse_grants(draft: ToolDraft) -> None:
    """Refuse a draft that asks for the network, host paths or secrets.

    Raises:
        RegistryError: It does; the message lists what and where to create it instead.
    """
    from toolkernel.bundles._folder import ToolSource  # noqa: PLC0415 - off host start-up
    from toolkernel.bundles._grants import tool_grants  # noqa: PLC0415

    kwargs = {"policy": draft.policy, "secrets": draft.secrets}
    grants = tool_grants(ToolSource(draft.name, draft.kind, kwargs, "the sandboxed kernel"))
    if grants:
        msg = (
            f"a sandboxed kernel cannot create {draft.name or 'a tool'} that reaches past "
            f"the tool sandbox ({'; '.join(grants)}): only a person outside the sandbox "
            "may grant that. Create it without that policy, or have a person create it "
            "from a plain kernel or `toolkernel tools import FOLDER --trust`"
        )
        raise RegistryError(msg)


def _name(params: dict[str, Any]) -> str:
    """The tool name as sent, unchecked here.

    The factory and the registry check it, with the messages a plain kernel gets.
    """
    return cast("str", params.get("name"))


def _text(params: dict[str, Any], key: str) -> str:
    value = params.get(key)
    if not isinstance(value, str):
        msg = f"{key!r} must be a string, not {type(value).__name__}"
        raise RpcError(msg, code=INVALID_PARAMS)
    return value


def _optional_text(params: dict[str, Any], key: str) -> str | None:
    return None if params.get(key) is None else _text(params, key)


def _integer(params: dict[str, Any], key: str) -> int:
    value = params.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        msg = f"{key!r} must be an integer, not {type(value).__name__}"
        raise RpcError(msg, code=INVALID_PARAMS)
    return value


def _user_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def peer_pid(sock: Any) -> int | None:
    """The pid of the process at the other end of Unix socket `sock`, if the OS says."""
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, _uid, _gid = struct.unpack("3i", creds)
    return int(pid) or None
