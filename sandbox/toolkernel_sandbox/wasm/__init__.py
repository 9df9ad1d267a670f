"""Run WASI command modules under wasmtime, with every limit set explicitly.

The module contract: a WASI command (`_start`) reads its input on stdin and writes its
result on stdout; a non-zero exit is a failure whose stderr explains it. This package
deals in bytes only; the caller parses them.

    runner = WasmRunner(cache_dir=Path("~/.cache/x").expanduser())
    program = runner.load(wasm_bytes)
    outcome = program.run(b'{"n": 3}', limits=WasmLimits(timeout_s=2.0))
    outcome.exit_code, outcome.stdout, outcome.stderr
    runner.close()

Every call runs in a fresh instance (a new store: new memory, tables and globals) under
its own limits; only the compiled code and its linking are shared between calls.

Limits (`WasmLimits`): fuel, linear memory, wall-clock time (epoch interruption, checked
every 10 ms), stdout and stderr bytes, table elements. A module sees no host directory
but the `Mount`s given (read-only unless writable), and no environment variable but
those given.

A caller that must not block for long (an event loop) may first try a call within a
`WasmSlice` (a little fuel and time, no sleeping), and run it again on a thread when
that raises `SliceExhausted`.

Errors (from `toolkernel_sandbox`): `LimitExceeded` (`limit` is `fuel`, `memory`,
`stdout` or `stderr`), `TimeLimitExceeded` (`limit="time"`), `SliceExhausted`, and
`SandboxError` for traps and modules that are not WASI commands. No raw wasmtime error
escapes.

Thread safety: one `WasmRunner` per process is enough; `load` and `WasmProgram.run` may
be called from many threads at once, each call in its own store.
"""

from toolkernel_sandbox.wasm._limits import Mount, WasmLimits, WasmOutcome, WasmSlice
from toolkernel_sandbox.wasm._program import WasmProgram
from toolkernel_sandbox.wasm._runner import WasmRunner

__all__ = [
    "Mount",
    "WasmLimits",
    "WasmOutcome",
    "WasmProgram",
    "WasmRunner",
    "WasmSlice",
]
