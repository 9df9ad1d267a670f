"""The epoch ticker: one thread that advances an engine's epoch while calls are running."""

from __future__ import annotations

import threading
from types import TracebackType

from wasmtime import Engine

from toolkernel_sandbox._errors import SandboxError

__all__ = ["EpochTicker"]

_JOIN_S = 1.0


class EpochTicker:
    """Advances `engine`'s epoch every `tick_s` seconds, but only while a call runs.

    An idle runner therefore wakes no thread at all. The thread starts with the first
    call and lives (as a daemon) until `close`.
    """

    def __init__(self, engine: Engine, tick_s: float) -> None:
        """Tick `engine` every `tick_s` seconds during calls."""
        self._engine = engine
        self._tick_s = tick_s
        self._cond = threading.Condition()
        self._active = 0
        self._closed = False
        self._thread: threading.Thread | None = None
        self._ticking = False
        self._running = _Running(self)

    def running(self) -> _Running:
        """Keep the epoch moving for the duration of the `with` block.

        Raises:
            SandboxError: On entry, when the ticker was closed (its runner was closed).
        """
        return self._running

    def _leave(self) -> None:
        with self._cond:
            self._active -= 1

    def close(self) -> None:
        """Stop ticking once no call is running, and refuse new calls.

        Calls still running keep their ticks until they end, so a closed runner never
        leaves a call without its wall-clock limit.
        """
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread, idle = self._thread, self._active == 0
        if thread is not None and idle:
            thread.join(_JOIN_S)

    def _enter(self) -> None:
        with self._cond:
            if self._closed:
                msg = "this WasmRunner is closed; create a new WasmRunner to run modules"
                raise SandboxError(msg)
            self._active += 1
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="toolkernel-wasm-epoch", daemon=True
                )
                self._thread.start()
            elif not self._ticking:
                # Only an idle ticker needs waking: waking a ticking one on every call
                # would cost a thread switch per call.
                self._cond.notify_all()

    def _loop(self) -> None:
        with self._cond:
            while True:
                if self._active == 0:
                    self._ticking = False
                    if self._closed:
                        return
                    self._cond.wait()
                    continue
                self._ticking = True
                self._cond.wait(self._tick_s)
                self._engine.increment_epoch()


class _Running:
    """`with ticker.running():` (a class, not a generator: it is on every call's path)."""

    def __init__(self, ticker: EpochTicker) -> None:
        self._ticker = ticker

    def __enter__(self) -> None:
        self._ticker._enter()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._ticker._leave()
