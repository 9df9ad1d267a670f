"""The runner: one engine, two WASI linkers and one epoch ticker shared by every module.

The linkers differ in `fd_write` only. The main one writes stdout and stderr straight
into the call's caps, on the call's own thread (`_output`); the other keeps WASI's own,
with stdout and stderr as stream callbacks, for calls with a writable mount, whose files
only WASI's own `fd_write` can write. Both bound a guest's sleeps (`_poll`) and the
random bytes one call may ask for within a slice (`_random`).
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from types import TracebackType

from wasmtime import Config, Engine, Linker, WasmtimeError

from toolkernel_sandbox._errors import SandboxError
from toolkernel_sandbox.wasm._cache import ModuleCache, engine_fingerprint
from toolkernel_sandbox.wasm._command import check_command
from toolkernel_sandbox.wasm._failures import trap_summary
from toolkernel_sandbox.wasm._output import define_captured_output
from toolkernel_sandbox.wasm._poll import define_bounded_poll
from toolkernel_sandbox.wasm._program import WasmProgram
from toolkernel_sandbox.wasm._random import define_bounded_random
from toolkernel_sandbox.wasm._ticker import EpochTicker

__all__ = ["ENGINE_SETTINGS", "EPOCH_TICK_S", "WasmRunner"]

# Every `Config` setting the engine uses; they are also part of the cache key, because
# code compiled under other settings cannot be loaded.
ENGINE_SETTINGS: dict[str, bool] = {"consume_fuel": True, "epoch_interruption": True}

# How often a running call checks its wall-clock deadline and output caps.
EPOCH_TICK_S = 0.01


class WasmRunner:
    """Loads WASI command modules and runs them under limits.

    One runner serves a whole process: its `Engine`, WASI `Linker`s and epoch ticker are
    shared by every module it loads. `load` and `WasmProgram.run` are safe to call from
    several threads at once. Call `close` (or use the runner as a context manager) when
    done: it stops the ticker thread and refuses further loads and runs.
    """

    def __init__(self, *, cache_dir: Path | None = None) -> None:
        """Make a runner; compiled modules are cached under `cache_dir` when it is given.

        The directory is created on first write. It may be shared by several processes.
        """
        config = Config()
        for name, value in ENGINE_SETTINGS.items():
            setattr(config, name, value)
        self._engine = Engine(config)
        self._linker = _wasi_linker(self._engine)
        define_captured_output(self._linker)
        self._streams_linker = _wasi_linker(self._engine)
        self._cache = ModuleCache(self._engine, engine_fingerprint(ENGINE_SETTINGS), cache_dir)
        self._ticker = EpochTicker(self._engine, EPOCH_TICK_S)
        self._programs: dict[str, WasmProgram] = {}
        self._lock = threading.Lock()
        self._closed = False

    @property
    def compiled_count(self) -> int:
        """How many modules this runner compiled (rather than read from its cache)."""
        return self._cache.compiled_count

    def cache_file(self, sha256: str) -> Path | None:
        """Where the compiled code of the module with this sha256 is cached, if anywhere."""
        return self._cache.path_for(sha256)

    def load(self, wasm: bytes) -> WasmProgram:
        """Compile `wasm` (or read it from the cache) and link it to WASI, once per module.

        Loading the same bytes again returns the same `WasmProgram`.

        Args:
            wasm: A WASI command module: binary WebAssembly (WAT text is accepted too).

        Raises:
            SandboxError: The bytes are not valid WebAssembly, the module is not a WASI
                command (no `_start`, or imports beyond `wasi_snapshot_preview1`), or
                the runner is closed.
        """
        sha256 = hashlib.sha256(wasm).hexdigest()
        with self._lock:
            if self._closed:
                msg = "this WasmRunner is closed; create a new WasmRunner to load modules"
                raise SandboxError(msg)
            program = self._programs.get(sha256)
            if program is None:
                program = self._prepare(bytes(wasm), sha256)
                self._programs[sha256] = program
            return program

    def close(self) -> None:
        """Stop the epoch ticker and forget loaded programs; further calls are refused.

        Calls already running finish under their limits. Idempotent.
        """
        with self._lock:
            self._closed = True
            self._programs.clear()
        self._ticker.close()

    def __enter__(self) -> WasmRunner:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _prepare(self, wasm: bytes, sha256: str) -> WasmProgram:
        module = self._cache.module(wasm, sha256)
        initial_memory = check_command(module)
        try:
            pre = self._linker.instantiate_pre(module)
            streams_pre = self._streams_linker.instantiate_pre(module)
        except WasmtimeError as exc:
            msg = (
                f"the module cannot be linked to WASI ({trap_summary(str(exc))}); check "
                "that its imports match wasi_snapshot_preview1's signatures"
            )
            raise SandboxError(msg) from exc
        return WasmProgram(
            sha256=sha256,
            engine=self._engine,
            pre=pre,
            streams_pre=streams_pre,
            ticker=self._ticker,
            initial_memory_bytes=initial_memory,
        )


def _wasi_linker(engine: Engine) -> Linker:
    linker = Linker(engine)
    linker.define_wasi()
    define_bounded_poll(linker)
    define_bounded_random(linker)
    return linker
