"""Run WASM registry tools: load the module once, run each call under its limits.

The module contract (DESIGN.md): a WASI command reads one JSON object (the arguments)
on stdin and writes one JSON value (the result) on stdout; a non-zero exit is a failure
reported with its stderr (`toolkernel.kinds._results`). A tool made with
`output="text"` (an imported Skillz tool) returns its stdout as a string instead.

A warm call is first tried right where it is asked for (the host loop), within a short
slice of its limits (`WasmSlice`: about 2 ms of fuel, 1 MiB of I/O, no sleeping), which
spares it two thread switches; a call that outgrows the slice is run again from scratch
on a worker thread. That is only done for calls without mounts, so nothing outside the
instance sees the first try. A version whose call outgrew the slice goes straight to a
thread until a call there ends well within a slice again (so one call delayed by a busy
machine does not send a quick tool to threads for good).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkernel.errors import RegistryError, ToolError
from toolkernel.kinds._results import result_from_output, sandbox_failure, text_result
from toolkernel_sandbox import SandboxError as RawSandboxError
from toolkernel_sandbox import SliceExhausted

if TYPE_CHECKING:
    from toolkernel._spec import ToolResult
    from toolkernel.registry import ToolRegistry, ToolVersion
    from toolkernel_sandbox.wasm import (
        Mount,
        WasmLimits,
        WasmOutcome,
        WasmProgram,
        WasmRunner,
        WasmSlice,
    )

__all__ = ["WasmTools", "check_wasm_limits", "check_wasm_policy"]

_to_json = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps makes one per call


def check_wasm_limits(limits: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return `limits` as checked JSON, refusing unknown keys or bad values.

    Raises:
        RegistryError: A key is not a `WasmLimits` field, or a value is out of range.
    """
    from toolkernel_sandbox.wasm import WasmLimits  # noqa: PLC0415 - wasmtime loads lazily

    given = dict(limits or {})
    known = {f.name for f in fields(WasmLimits)}
    unknown = sorted(set(given) - known)
    if unknown:
        msg = f"unknown WASM limit(s) {unknown}; the limits are: {', '.join(sorted(known))}"
        raise RegistryError(msg)
    try:
        WasmLimits(**given)
    except (TypeError, ValueError) as exc:
        msg = f"invalid WASM limits {given}: {exc}"
        raise RegistryError(msg) from exc
    return given


def check_wasm_policy(policy: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return a WASM tool's policy as checked JSON: `mounts` (host dirs) and `env`.

    A mount is `{"host": "/abs/dir", "guest": "/data", "writable": false}`; it is
    read-only unless `writable` is the boolean True. `env` maps names to strings.

    Raises:
        RegistryError: An unknown key, a relative or missing host dir, a guest path with
            `..`, or a non-string variable.
    """
    given = dict(policy or {})
    unknown = sorted(set(given) - {"mounts", "env"})
    if unknown:
        msg = f"unknown WASM policy key(s) {unknown}; a WASM policy has 'mounts' and 'env'"
        raise RegistryError(msg)
    mounts = [_check_mount(m) for m in given.get("mounts") or []]
    env = given.get("env") or {}
    if not isinstance(env, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in env.items()
    ):
        msg = "a WASM policy's env must map variable names to string values"
        raise RegistryError(msg)
    return {"mounts": mounts, "env": dict(env)}


def _check_mount(mount: Any) -> dict[str, Any]:
    if not isinstance(mount, dict) or not {"host", "guest"} <= mount.keys():
        msg = f'a mount is {{"host": "/dir", "guest": "/dir", "writable": false}}, not {mount!r}'
        raise RegistryError(msg)
    host, guest = Path(str(mount["host"])), str(mount["guest"])
    if not host.is_absolute() or not host.is_dir():
        msg = f"mount host {str(host)!r} must be an existing absolute directory"
        raise RegistryError(msg)
    if not guest.startswith("/") or ".." in guest.split("/"):
        msg = f"mount guest path {guest!r} must be absolute and hold no '..'"
        raise RegistryError(msg)
    writable = mount.get("writable", False) is True
    return {"host": str(host), "guest": guest, "writable": writable}


class WasmTools:
    """Runs WASM registry tools; compiled modules are cached on disk and in memory."""

    def __init__(self, registry: ToolRegistry, cache_dir: Path) -> None:
        """Load modules from `registry` blobs, caching compiled code under `cache_dir`."""
        self._registry = registry
        self._cache_dir = cache_dir
        self._runner: WasmRunner | None = None
        self._lock = threading.Lock()
        # Per version: the loaded program and its settings, so a warm call does no I/O.
        self._prepared: dict[tuple[str, int], _Prepared] = {}

    def prepare(self, version: ToolVersion) -> WasmProgram:
        """Load (compile or deserialize) the module of `version`, once per module."""
        runner = self._get_runner()
        sha = str(version.manifest.get("artifact") or "")
        try:
            wasm = self._registry.get_blob(sha)
        except RegistryError as exc:
            msg = f"{version.name} v{version.version}: its module is missing ({exc}); rebuild it"
            raise ToolError(msg, tool=version.name) from exc
        try:
            return runner.load(wasm)
        except RawSandboxError as exc:
            raise sandbox_failure(version.name, exc) from exc

    def check(self, name: str, wasm: bytes) -> None:
        """Load `wasm` as a WASI command (warming the compiled cache), or raise.

        Raises:
            SandboxError: It is not a valid WASI command module.
        """
        try:
            self._get_runner().load(wasm)
        except RawSandboxError as exc:
            raise sandbox_failure(name, exc) from exc

    def run(self, version: ToolVersion, arguments: dict[str, Any]) -> ToolResult:
        """Run one call of `version` (blocking; call it from a worker thread).

        Raises:
            SandboxLimitExceeded: A limit (fuel, memory, output) stopped the module.
            SandboxTimeout: Its wall-clock limit stopped it.
            SandboxError: It trapped, or could not be loaded.
        """
        key = (version.name, version.version)
        prepared = self._prepared.get(key)
        if prepared is None:
            prepared = _Prepared(self.prepare(version), *self._settings(version))
            self._prepared[key] = prepared
        outcome = self._run(version, prepared, arguments, within=None)
        if prepared.within is not None and not prepared.sliced:
            prepared.sliced = _well_within(outcome, prepared.within)
        return _result(version, outcome)

    def run_sliced(self, version: ToolVersion, arguments: dict[str, Any]) -> ToolResult | None:
        """Run one call of `version` here, if it is short; None: `run` it on a thread.

        Only a version that is loaded already, has no mounts and whose last call did
        not outgrow its slice is tried; a try that outgrows the slice is dropped whole,
        and the version's calls go to threads until one ends well within a slice.

        Raises:
            The errors of `run`, for a call that ended within its slice.
        """
        prepared = self._prepared.get((version.name, version.version))
        if prepared is None or prepared.within is None or not prepared.sliced:
            return None
        try:
            outcome = self._run(version, prepared, arguments, within=prepared.within)
        except SliceExhausted:
            prepared.sliced = False
            return None
        return _result(version, outcome)

    def close(self) -> None:
        """Stop the runner's epoch ticker and drop compiled modules."""
        with self._lock:
            if self._runner is not None:
                self._runner.close()
                self._runner = None
            self._prepared.clear()

    def _run(
        self,
        version: ToolVersion,
        prepared: _Prepared,
        arguments: dict[str, Any],
        *,
        within: WasmSlice | None,
    ) -> WasmOutcome:
        """Run one call; sandbox errors are ours, but for `SliceExhausted` of a slice."""
        stdin = _to_json(arguments).encode()
        try:
            return prepared.program.run(
                stdin,
                limits=prepared.limits,
                mounts=prepared.mounts,
                env=prepared.env,
                within=within,
            )
        except RawSandboxError as exc:
            if within is not None and isinstance(exc, SliceExhausted):
                raise  # not a failure: the caller runs the call again, on a thread
            raise sandbox_failure(version.name, exc) from exc

    def _get_runner(self) -> WasmRunner:
        with self._lock:
            if self._runner is None:
                from toolkernel_sandbox.wasm import WasmRunner  # noqa: PLC0415 - see check

                self._runner = WasmRunner(cache_dir=self._cache_dir)
            return self._runner

    def _settings(
        self, version: ToolVersion
    ) -> tuple[WasmLimits, list[Mount], dict[str, str], WasmSlice | None]:
        from toolkernel_sandbox.wasm import Mount, WasmLimits, WasmSlice  # noqa: PLC0415

        manifest = version.manifest
        limits = WasmLimits(**(manifest.get("limits") or {}))
        policy = manifest.get("policy") or {}
        mounts = [
            Mount(Path(m["host"]), m["guest"], writable=bool(m.get("writable")))
            for m in policy.get("mounts") or []
        ]
        # A call with mounts is never tried twice: its first try could be seen outside.
        within = None if mounts else WasmSlice()
        return limits, mounts, dict(policy.get("env") or {}), within


@dataclass
class _Prepared:
    """A loaded version and its settings, so that a warm call does no I/O."""

    program: WasmProgram
    limits: WasmLimits
    mounts: list[Mount]
    env: dict[str, str]
    within: WasmSlice | None
    """The slice a call is first tried in on the host loop; None: never (it has mounts)."""
    sliced: bool = True
    """Whether the next call is tried in the slice (False once one outgrew it)."""


def _well_within(outcome: WasmOutcome, within: WasmSlice) -> bool:
    """Whether a call took under half its slice's fuel, time and output bytes."""
    output = len(outcome.stdout) + len(outcome.stderr)
    return (
        outcome.fuel_used * 2 < within.fuel
        and outcome.elapsed_s * 2 < within.timeout_s
        and output * 2 < within.io_bytes
    )


def _result(version: ToolVersion, outcome: WasmOutcome) -> ToolResult:
    if version.manifest.get("output") == "text":
        return text_result(version.name, outcome.exit_code, outcome.stdout, outcome.stderr)
    return result_from_output(version.name, outcome.exit_code, outcome.stdout, outcome.stderr)
