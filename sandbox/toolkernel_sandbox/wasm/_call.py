"""One call's state: the output it wrote, under caps, and why it was stopped, if it was.

Everything here is touched only by the thread that runs the call: wasmtime invokes the
host functions and the epoch watcher on the thread executing the wasm, which finds its
call with `current_call()`. (WASI's own custom output streams, used for calls with a
writable mount, call `OutputCap.write` from a tokio worker while the call's thread waits.)
"""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Callable
from types import TracebackType

from toolkernel_sandbox.wasm._limits import WasmLimits, WasmSlice

__all__ = ["CallState", "OutputCap", "current_call"]

_running = threading.local()


def current_call() -> CallState | None:
    """The call this thread is running (inside `with call:`), if any."""
    call: CallState | None = getattr(_running, "call", None)
    return call


class OutputCap:
    """Collects one output stream, keeping at most `cap` bytes.

    The write that would pass the cap keeps what fits, reports the stream by name to
    `on_full` (which stops the call) and fails with EIO, so a careful guest stops
    writing at once and a careless one is stopped at its next epoch check (through the
    runner's own `fd_write`) or the next tick (through WASI's stream callbacks).
    """

    def __init__(self, name: str, cap: int, on_full: Callable[[str], None]) -> None:
        """Collect stream `name` up to `cap` bytes, then call `on_full(name)`."""
        self.name = name
        self.cap = cap
        self._on_full = on_full
        self._chunks: list[bytes] = []
        self._size = 0

    def write(self, data: bytes) -> int:
        """Take one write from the guest; return the bytes taken, or -EIO when full."""
        room = self.cap - self._size
        if len(data) <= room:
            self._chunks.append(data)
            self._size += len(data)
            return len(data)
        if room > 0:
            self._chunks.append(data[:room])
            self._size = self.cap
        self._on_full(self.name)
        return -errno.EIO

    @property
    def room(self) -> int:
        """How many more bytes the cap keeps."""
        return self.cap - self._size

    def value(self) -> bytes:
        """Everything kept so far."""
        return b"".join(self._chunks)


class CallState:
    """The state of one call: its output, its deadlines and its stop reason.

    Inside `with call:` it is this thread's `current_call()`, which is how the host
    functions its wasm calls find it.

    Attributes:
        limits: The limits the call runs under.
        within: The slice the call is tried in, or None (see `WasmSlice`).
        fuel: The fuel the call starts with: its limit, or its slice's if smaller.
        stopped_by: What stopped the call (`time`, `stdout`, `stderr`, or `slice` when
            it outgrew its slice), or None.
        stdout: The capped stdout collector.
        stderr: The capped stderr collector.
        wasi_origin_ns: `time.monotonic_ns()` when the call's WASI context was made,
            which is where the guest's monotonic clock starts.
    """

    def __init__(self, limits: WasmLimits, within: WasmSlice | None = None) -> None:
        """Start the call's clock now."""
        self.limits = limits
        self.within = within
        self.started = time.perf_counter()
        now = time.monotonic()
        self._deadline = now + limits.timeout_s
        self._slice_end = now + within.timeout_s if within is not None else None
        self.fuel = min(limits.fuel, within.fuel) if within is not None else limits.fuel
        self._io_left = within.io_bytes if within is not None else None
        self.stopped_by: str | None = None
        self.wasi_origin_ns = time.monotonic_ns()
        self.stdout = OutputCap("stdout", limits.stdout_bytes, self.stop)
        self.stderr = OutputCap("stderr", limits.stderr_bytes, self.stop)

    def __enter__(self) -> CallState:
        _running.call = self
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _running.call = None

    @property
    def fuel_is_sliced(self) -> bool:
        """Whether running out of fuel means outgrowing the slice, not the fuel limit."""
        return self.fuel < self.limits.fuel

    def spend_io(self, size: int) -> bool:
        """Count `size` bytes a host function is about to move for the call.

        Returns False, with the call stopped, once a sliced call has spent its slice's
        `io_bytes`; the host function then moves nothing. Other calls are not counted.
        """
        if self._io_left is None:
            return True
        self._io_left -= size
        if self._io_left < 0:
            self.stop("slice")
            return False
        return True

    def stop(self, limit: str) -> None:
        """Record that `limit` stopped the call; the first reason given is kept."""
        if self.stopped_by is None:
            self.stopped_by = limit

    def keep_going(self) -> bool:
        """Answer the epoch watcher: False once the call is past a deadline or stopped."""
        if self.stopped_by is None:
            now = time.monotonic()
            if now >= self._deadline:
                self.stop("time")
            elif self._slice_end is not None and now >= self._slice_end:
                self.stop("slice")
        return self.stopped_by is None

    def remaining_ns(self) -> int:
        """Nanoseconds left before the call's deadline (0 once it has passed)."""
        return max(0, int((self._deadline - time.monotonic()) * 1e9))

    def elapsed_s(self) -> float:
        """Seconds since the call started."""
        return time.perf_counter() - self.started
