"""A loaded WASI command: each call gets a fresh store, its own limits, and is then dropped.

Nothing is shared between two calls but the compiled code and its linking: each gets a
new `Store` (so a new instance, new linear memory, tables and globals), its own fuel,
epoch deadline, store limits, WASI context and output caps, and the store is closed when
the call ends. What is prepared once per module is only what is the same for every call:
the module's `InstancePre` in each of the runner's two linkers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from wasmtime import (
    Engine,
    ExitTrap,
    Instance,
    InstancePre,
    Memory,
    Store,
    Trap,
    WasiConfig,
    WasmtimeError,
)

from toolkernel_sandbox._errors import LimitExceeded, SandboxError
from toolkernel_sandbox.wasm._call import CallState
from toolkernel_sandbox.wasm._failures import call_failure, memory_exceeded, stopped, trap_summary
from toolkernel_sandbox.wasm._limits import Mount, WasmLimits, WasmOutcome, WasmSlice
from toolkernel_sandbox.wasm._native import call_start, unwatch_epochs, watch_epochs
from toolkernel_sandbox.wasm._ticker import EpochTicker
from toolkernel_sandbox.wasm._wasi import wasi_config

__all__ = ["WasmProgram"]

_DEFAULT_LIMITS = WasmLimits()
_FULL_FRACTION = 16


class WasmProgram:
    """A WASI command module, compiled and linked once, run any number of times.

    `run` may be called from several threads at once: each call has its own `Store`,
    and the compiled module and its linked `InstancePre`s are shared read-only.

    Attributes:
        sha256: The hex sha256 of the module's bytes, as given to `WasmRunner.load`.
        initial_memory_bytes: The linear memory the module starts with.
    """

    def __init__(
        self,
        *,
        sha256: str,
        engine: Engine,
        pre: InstancePre,
        streams_pre: InstancePre,
        ticker: EpochTicker,
        initial_memory_bytes: int,
    ) -> None:
        """Wrap a linked module; made by `WasmRunner.load`, not by callers.

        `pre` links stdout and stderr to the runner's own `fd_write` (`_output`);
        `streams_pre` to WASI's, for calls with a writable mount.
        """
        self.sha256 = sha256
        self.initial_memory_bytes = initial_memory_bytes
        self._engine = engine
        self._pre = pre
        self._streams_pre = streams_pre
        self._ticker = ticker

    def run(
        self,
        stdin: bytes,
        *,
        limits: WasmLimits | None = None,
        mounts: Sequence[Mount] = (),
        env: Mapping[str, str] | None = None,
        argv: Sequence[str] = ("tool",),
        within: WasmSlice | None = None,
    ) -> WasmOutcome:
        """Run the module's `_start` once, in a fresh instance, and return how it ended.

        The module sees `stdin` as its whole stdin, `argv` as its arguments, exactly the
        variables in `env`, and no directory but `mounts`. A non-zero exit is not an
        error here: it is returned, with stderr, for the caller to report.

        Args:
            stdin: The bytes the module reads on stdin (for a tool, its JSON arguments).
            limits: Fuel, memory, wall-clock and output limits (default: `WasmLimits()`).
            mounts: Host directories to show the module, read-only unless writable.
            env: The module's whole environment; nothing is inherited from the host.
            argv: The module's arguments, program name first.
            within: Try the call within this slice of its limits (see `WasmSlice`);
                only for calls without mounts.

        Raises:
            LimitExceeded: Fuel, memory, stdout or stderr ran out (`limit` says which).
            TimeLimitExceeded: The wall-clock limit passed.
            SliceExhausted: The call needed more than its slice; run it again without.
            SandboxError: The module trapped, a mount is missing, or the runner is closed.
            ValueError: `argv` or `env` holds a NUL byte, or a variable name holds `=`,
                or a sliced call has mounts.
        """
        limits = limits or _DEFAULT_LIMITS
        self._check_initial_memory(limits)
        if within is not None and mounts:
            msg = "a call with mounts cannot be tried within a slice: run it without one"
            raise ValueError(msg)
        streams = any(mount.writable for mount in mounts)
        call = CallState(limits, within)
        wasi = wasi_config(
            call, stdin, mounts=mounts, env=env or {}, argv=argv, output_streams=streams
        )
        pre = self._streams_pre if streams else self._pre
        with self._ticker.running(), self._store(call, wasi) as store, call:
            exit_code = self._execute(store, pre, call)
            fuel_used = call.fuel - store.get_fuel()
        return WasmOutcome(
            exit_code=exit_code,
            stdout=call.stdout.value(),
            stderr=call.stderr.value(),
            fuel_used=fuel_used,
            elapsed_s=call.elapsed_s(),
        )

    @contextmanager
    def _store(self, call: CallState, wasi: WasiConfig) -> Iterator[Store]:
        """A store holding every limit of `call`, closed (never left to GC) afterwards."""
        limits = call.limits
        store = Store(self._engine)
        handle = None
        try:
            # Installs the epoch deadline too: with epoch interruption on, a store
            # without one would trap at its first instruction.
            handle = watch_epochs(store, call.keep_going)
            store.set_fuel(call.fuel)
            store.set_limits(
                memory_size=limits.memory_bytes,
                table_elements=limits.table_elements,
                instances=1,
                memories=1,
            )
            call.wasi_origin_ns = time.monotonic_ns()
            store.set_wasi(wasi)
            yield store
        finally:
            if handle is not None:
                unwatch_epochs(handle)
            store.close()

    def _execute(self, store: Store, pre: InstancePre, call: CallState) -> int:
        instance = self._instantiate(store, pre, call)
        try:
            call_start(store, instance)
            exit_code = 0
        except ExitTrap as exc:
            exit_code = exc.code
        except (Trap, WasmtimeError) as exc:
            full = _memory_full(instance, store, call.limits)
            raise call_failure(exc, call, memory_full=full) from exc
        if call.stopped_by is not None:
            # Stopped by its last host calls (an output cap, a wait), before any check.
            raise stopped(call)
        if exit_code != 0 and _memory_full(instance, store, call.limits):
            raise memory_exceeded(call.limits, call.stderr.value(), exit_code)
        return exit_code

    def _instantiate(self, store: Store, pre: InstancePre, call: CallState) -> Instance:
        try:
            return pre.instantiate(store)
        except (Trap, WasmtimeError) as exc:
            if isinstance(exc, Trap) or call.stopped_by is not None:
                raise call_failure(exc, call, memory_full=False) from exc
            msg = (
                f"the module could not be instantiated: {trap_summary(str(exc))}; raise "
                "the limit it names (limits.memory_bytes, limits.table_elements) or "
                "make the module smaller"
            )
            raise SandboxError(msg, stderr=call.stderr.value().decode("utf-8", "replace")) from exc

    def _check_initial_memory(self, limits: WasmLimits) -> None:
        need = self.initial_memory_bytes
        if need > limits.memory_bytes:
            msg = (
                f"the module needs {need:,} bytes of memory at start, more than its limit of "
                f"{limits.memory_bytes:,}; raise limits.memory_bytes to at least {need:,}"
            )
            raise LimitExceeded(msg, limit="memory", value=limits.memory_bytes)


def _memory_full(instance: Instance, store: Store, limits: WasmLimits) -> bool:
    """Whether a memory of the instance is so close to its limit that growth likely failed.

    The C API gives no hook on a refused `memory.grow` (it just returns -1), so this is a
    heuristic: within a sixteenth of the limit (at least one page) counts as full. A
    single allocation far larger than the room left fails unnoticed by it.
    """
    slack = max(limits.memory_bytes // _FULL_FRACTION, 2**16)
    memories = [item for item in instance.exports(store).values() if isinstance(item, Memory)]
    return any(m.data_len(store) + slack > limits.memory_bytes for m in memories)
