"""Run script tools: programs in any interpreter, JSON-RPC over stdio, in the sandbox.

A version's files are written once to `<home>/tools/<content hash>/` (bound read-only
as the tool's own directory and working directory). Each call starts the script under
`toolkernel_sandbox.process` with the version's policy: no network, no host files, an
environment of a minimal PATH, LANG and the declared secrets only. A `persistent` tool
keeps one warm process that answers one `execute` at a time, and is restarted if it
dies. Secret values are redacted from everything the tool sends back.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkernel.errors import SandboxError, SandboxLimitExceeded, SandboxTimeout, ToolError
from toolkernel.host._jsonrpc import NoAnswer, ScriptPeer, converse
from toolkernel.host._secrets import clip, redact
from toolkernel.kinds._results import result_from_output, sandbox_failure
from toolkernel.kinds.script._manifest import SCRIPT_LANGUAGES, policy_or_error

if TYPE_CHECKING:
    from toolkernel._spec import ToolResult
    from toolkernel.kinds.script._envs import EnvManager, ToolEnv
    from toolkernel.registry import ToolRegistry, ToolVersion
    from toolkernel_sandbox.process import ProcessPolicy, SandboxedProcess

__all__ = ["SECRET_PREFIX", "ScriptTools"]

SECRET_PREFIX = "TOOLKERNEL_SECRET_"  # noqa: S105 - a variable-name prefix, not a secret
"""A host variable `TOOLKERNEL_SECRET_<NAME>` is forwarded as `<NAME>` to tools that
declare `secrets: ["<NAME>"]`, and to no other tool."""


@dataclass
class _Call:
    """One running call's callbacks (set by the host)."""

    peer: ScriptPeer
    secrets: dict[str, str]


class ScriptTools:
    """Runs script registry tools, one-shot or as persistent workers."""

    def __init__(
        self,
        registry: ToolRegistry,
        *,
        tools_dir: Path,
        envs: EnvManager,
        backend: str | None = None,
        environ: Callable[[], Mapping[str, str]] = lambda: os.environ,
    ) -> None:
        """Serve script tools of `registry`.

        Args:
            registry: Where versions and their source blobs live.
            tools_dir: Where each version's files are written (by content hash).
            envs: Makes and caches dependency environments.
            backend: The sandbox backend (`bwrap`, `firejail`, `nsjail`, or the
                opt-in `rlimits`); by default the best one available.
            environ: The host environment secrets are read from.
        """
        self._registry = registry
        self._tools_dir = tools_dir
        self._envs = envs
        self._backend = backend
        self._environ = environ
        self._workers: dict[tuple[str, int], _Worker] = {}
        self._env_cache: dict[tuple[tuple[str, ...], tuple[str, ...]], ToolEnv | None] = {}
        self._next_id = 0

    def install(
        self, manifest: Mapping[str, Any], on_line: Callable[[str], None] | None = None
    ) -> None:
        """Make the dependency environment a manifest needs (before it is registered).

        Raises:
            DependencyError: Its requirements or packages could not be installed; no
                half-made environment is left behind.
        """
        self._env_for(manifest, on_line)

    def secrets_of(self, version: ToolVersion) -> dict[str, str]:
        """The secret values `version` declared, read from the host environment.

        Raises:
            ToolError: A declared secret is not set (the message names the variable).
        """
        return self._secrets(version)

    async def call(
        self, version: ToolVersion, arguments: dict[str, Any], peer: ScriptPeer
    ) -> ToolResult:
        """Run one `execute` of `version` and return its result.

        Raises:
            SandboxTimeout: It ran past `timeout_s` (it was killed).
            SandboxError: The sandbox refused or stopped it.
            ToolError: It answered with an error, exited without answering, or broke
                the protocol.
        """
        secrets = self._secrets(version)
        call = _Call(peer, secrets)
        params = {"arguments": arguments, "context": self._context(version, call)}
        try:
            if version.manifest.get("persistent"):
                self._next_id += 1  # one worker answers many calls: each its own id
                value = await self._call_worker(version, self._next_id, params, call)
            else:  # a new process, a new conversation: it starts at 1, as in Skillz
                value = await self._call_once(version, 1, params, call)
        except ToolError as exc:
            raise type(exc)(redact(str(exc), secrets), tool=version.name) from None
        return _result(version.name, value, secrets)

    async def close(self) -> None:
        """Stop every persistent worker."""
        workers, self._workers = self._workers, {}
        await asyncio.gather(*(w.process.aclose() for w in workers.values()))

    # -- running -------------------------------------------------------------------

    async def _call_once(
        self, version: ToolVersion, request_id: int, params: dict[str, Any], call: _Call
    ) -> Any:
        policy = self._policy(version, call.secrets)
        process = await self._spawn(version, policy)
        async with process:
            try:
                async with asyncio.timeout(policy.timeout_s):
                    value = await converse(
                        process,
                        request_id,
                        params,
                        call.peer,
                        name=version.name,
                        until_eof=True,
                        secrets=call.secrets,
                    )
                    code = await process.wait(policy.timeout_s)
            except TimeoutError as exc:
                raise _timed_out(version.name, policy.timeout_s) from exc
            except _sandbox_errors() as exc:
                raise sandbox_failure(version.name, exc) from exc
        stopped = _stopped_by_limit(version.name, policy, code, process)
        if stopped is not None:  # even with an answer: part of the run was killed
            raise stopped
        if isinstance(value, NoAnswer):
            if code == 0 and value.first is not None and _speaks_skillz(version):
                return value.first  # Skillz takes a script's plain text line as its result
            raise _unanswered(version.name, code, process.stderr_tail(), value, call.secrets)
        return value

    async def _call_worker(
        self, version: ToolVersion, request_id: int, params: dict[str, Any], call: _Call
    ) -> Any:
        key = (version.name, version.version)
        worker = self._workers.get(key)
        if worker is None or worker.process.returncode is not None:
            policy = self._policy(version, call.secrets)
            worker = _Worker(await self._spawn(version, policy), policy)
            self._workers[key] = worker
        async with worker.lock:
            try:
                async with asyncio.timeout(worker.policy.timeout_s):
                    value = await converse(
                        worker.process,
                        request_id,
                        params,
                        call.peer,
                        name=version.name,
                        until_eof=False,
                        secrets=call.secrets,
                    )
            except TimeoutError as exc:
                await self._drop(key, worker)
                raise _timed_out(version.name, worker.policy.timeout_s) from exc
            except _sandbox_errors() as exc:
                await self._drop(key, worker)
                raise sandbox_failure(version.name, exc) from exc
            except asyncio.CancelledError:
                await self._drop(key, worker)
                raise
        if isinstance(value, NoAnswer):
            await self._drop(key, worker)
            code = worker.process.returncode
            tail = worker.process.stderr_tail()
            raise _stopped_by_limit(
                version.name, worker.policy, code, worker.process
            ) or _unanswered(version.name, code, tail, value, call.secrets)
        return value

    async def _drop(self, key: tuple[str, int], worker: _Worker) -> None:
        if self._workers.get(key) is worker:
            del self._workers[key]
        await worker.process.aclose()

    async def _spawn(self, version: ToolVersion, policy: ProcessPolicy) -> SandboxedProcess:
        from toolkernel_sandbox.process import spawn  # noqa: PLC0415 - loaded on first use

        command = self._command(version)
        try:
            return await spawn(command, policy=policy, backend=self._backend, cwd=policy.tool_dir)
        except _sandbox_errors() as exc:
            raise sandbox_failure(version.name, exc) from exc

    # -- what a call runs with -------------------------------------------------------

    def _command(self, version: ToolVersion) -> list[str]:
        manifest = version.manifest
        entry = str(manifest.get("entry") or "")
        command = manifest.get("command")
        if command:
            return [*map(str, command), entry] if entry else list(map(str, command))
        interpreter, default_entry = SCRIPT_LANGUAGES[str(manifest["language"])]
        env = self._env(version, None)
        if env is not None and manifest["language"] == "python":
            interpreter = str(env.bin_dirs[0] / "python")
        return [interpreter, entry or default_entry]

    def _policy(self, version: ToolVersion, secrets: Mapping[str, str]) -> ProcessPolicy:
        return policy_or_error(
            version.manifest,
            self._tool_dir(version),
            {
                **self._env_vars(version),
                **secrets,
            },
            env_paths=self._env_paths(version),
            uid=_identity(version.name),
        )

    def _env(self, version: ToolVersion, on_line: Callable[[str], None] | None) -> ToolEnv | None:
        return self._env_for(version.manifest, on_line)

    def _env_for(
        self, manifest: Mapping[str, Any], on_line: Callable[[str], None] | None
    ) -> ToolEnv | None:
        requirements = tuple(manifest.get("requirements") or ())
        packages = tuple(manifest.get("packages") or ())
        key = (requirements, packages)
        if key in self._env_cache:
            return self._env_cache[key]
        env = None
        if requirements:
            env = self._envs.python_env(requirements, on_line=on_line)
        elif packages:
            env = self._envs.node_env(packages, on_line=on_line)
        self._env_cache[key] = env
        return env

    def _env_vars(self, version: ToolVersion) -> dict[str, str]:
        env = self._env(version, None)
        if env is None:
            return {}
        path = ":".join([*map(str, env.bin_dirs), "/usr/local/bin:/usr/bin:/bin"])
        return {**env.env, "PATH": path}

    def _env_paths(self, version: ToolVersion) -> tuple[Path, ...]:
        env = self._env(version, None)
        return env.read_only if env is not None else ()

    def _tool_dir(self, version: ToolVersion) -> Path:
        target = self._tools_dir / version.content_hash
        if target.is_dir():
            return target
        staging = self._tools_dir / f".tmp-{version.content_hash}-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        for relative, sha in (version.manifest.get("source") or {}).items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
            path.write_bytes(self._registry.get_blob(sha))
            path.chmod(0o755 if relative == version.manifest.get("entry") else 0o644)
        staging.mkdir(parents=True, exist_ok=True)
        staging.chmod(0o755)
        try:
            staging.rename(target)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)  # another process made it first
        return target

    def _secrets(self, version: ToolVersion) -> dict[str, str]:
        environ = self._environ()
        found = {}
        for name in version.manifest.get("secrets") or []:
            value = environ.get(SECRET_PREFIX + name)
            if value is None:
                msg = (
                    f"{version.name} needs the secret {name}: set {SECRET_PREFIX}{name} in "
                    "the kernel's environment (it is passed to this tool only)"
                )
                raise ToolError(msg, tool=version.name)
            found[name] = value
        return found

    def _context(self, version: ToolVersion, call: _Call) -> dict[str, Any]:
        """The `context` of an `execute`: Skillz's fields, plus our `version`.

        `roots` are the host paths the policy opens (writable first), else the tool's
        own directory; `environment` is what the script runs with, secrets left out
        (they are in its process environment); `capabilities` say what this call's
        client can really do.
        """
        from toolkernel_sandbox.process import sandbox_env  # noqa: PLC0415 - on first use

        working = str(self._tool_dir(version))
        policy = version.manifest.get("policy") or {}
        roots = [*policy.get("writable", []), *policy.get("read_only", [])] or [working]
        environment = sandbox_env(self._policy(version, {}))
        return {
            "tool_name": version.name,
            "version": version.version,
            "working_directory": working,
            "tools_dir": str(self._tools_dir),
            "roots": roots,
            "environment": environment,
            "capabilities": call.peer.capabilities(),
        }


@dataclass
class _Worker:
    process: SandboxedProcess
    policy: ProcessPolicy
    lock: asyncio.Lock = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.lock = asyncio.Lock()


def _speaks_skillz(version: ToolVersion) -> bool:
    return version.manifest.get("protocol") == "skillz"


def _identity(name: str) -> int:
    """The uid `name`'s processes run as (as root): its own, so nothing is shared."""
    from toolkernel_sandbox.process import identity_for  # noqa: PLC0415

    return identity_for(name)


def _sandbox_errors() -> type[Exception]:
    from toolkernel_sandbox import SandboxError as RawSandboxError  # noqa: PLC0415

    return RawSandboxError


def _timed_out(name: str, seconds: float) -> SandboxError:
    from toolkernel_sandbox import TimeLimitExceeded  # noqa: PLC0415

    msg = (
        f"the tool ran past its wall-clock limit of {seconds:g} s and was killed; raise "
        "limits.timeout_s or make it faster"
    )
    return sandbox_failure(name, TimeLimitExceeded(msg, limit="time", value=seconds))


def _stopped_by_limit(
    name: str, policy: ProcessPolicy, code: int | None, process: SandboxedProcess
) -> SandboxError | None:
    """The limit that stopped the run: its memory total, CPU or file size; or None."""
    from toolkernel_sandbox.process import signal_of  # noqa: PLC0415

    if process.limit_error() is not None:
        msg = (
            f"{name} was stopped: memory limit of {policy.memory_bytes:,} bytes (the total "
            "of all its processes and /tmp); raise limits.memory_bytes if needed"
        )
        return SandboxLimitExceeded(msg, tool=name, limit="memory", value=policy.memory_bytes)
    sig = None if code is None else signal_of(code)
    if sig == signal.SIGXCPU:
        msg = f"{name} was stopped: CPU limit of {policy.cpu_s} s; raise limits.cpu_s if needed"
        return SandboxTimeout(msg, tool=name, limit="cpu", value=policy.cpu_s)
    if sig == signal.SIGXFSZ:
        msg = (
            f"{name} was stopped: file size limit of {policy.file_size_bytes:,} bytes; "
            "raise limits.file_size_bytes if needed"
        )
        return SandboxLimitExceeded(msg, tool=name, limit="file_size", value=policy.file_size_bytes)
    return None


def _unanswered(
    name: str, code: int | None, stderr: str, value: NoAnswer, secrets: Mapping[str, str]
) -> ToolError:
    tail = clip(stderr.strip(), 1500, secrets, keep="tail")
    how = f"exited with code {code}" if code is not None else "closed its output"
    detail = f"; stderr: {tail}" if tail else ""
    msg = (
        f"{name} {how} without answering{redact(value.describe(), secrets)}{detail}. A "
        "script must print one JSON-RPC response line holding `result` or `error`"
    )
    return ToolError(msg, tool=name)


def _result(name: str, value: Any, secrets: Mapping[str, str]) -> ToolResult:
    text = redact(json.dumps(value, ensure_ascii=False), secrets)
    return result_from_output(name, 0, text.encode(), b"")
