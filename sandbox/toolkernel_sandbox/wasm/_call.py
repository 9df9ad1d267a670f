"""One call's state: the output it wrote, under caps, and why it was stopped, if it was.

Everything here is touched only by the thread that runs the call: wasmtime invokes the
output callbacks and the epoch watcher on the thread executing the wasm.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable

from toolkernel_sandbox.wasm._limits import WasmLimits

__all__ = ["CallState", "OutputCap"]


class OutputCap:
    """Collects one output stream, keeping at most `cap` bytes.

    The write that would pass the cap keeps what fits, reports the stream by name to
    `on_full` (which stops the call) and fails with EIO, so a careful guest stops
    writing at once and a careless one is stopped at the next epoch tick.
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

    def value(self) -> bytes:
        """Everything kept so far."""
        return b"".join(self._chunks)


class CallState:
    """The state of one call: its output, its wall-clock deadline and its stop reason.

    Attributes:
        limits: The limits the call runs under.
        stopped_by: The limit that stopped the call (`time`, `stdout`, `stderr`), or None.
        stdout: The capped stdout collector.
        stderr: The capped stderr collector.
        wasi_origin_ns: `time.monotonic_ns()` when the call's WASI context was made,
            which is where the guest's monotonic clock starts.
    """

    def __init__(self, limits: WasmLimits) -> None:
        """Start the call's clock now."""
        self.limits = limits
        self.started = time.perf_counter()
        self._deadline = time.monotonic() + limits.timeout_s
        self.stopped_by: str | None = None
        self.wasi_origin_ns = time.monotonic_ns()
        self.stdout = OutputCap("stdout", limits.stdout_bytes, self.stop)
        self.stderr = OutputCap("stderr", limits.stderr_bytes, self.stop)

    def stop(self, limit: str) -> None:
        """Record that `limit` stopped the call; the first reason given is kept."""
        if self.stopped_by is None:
            self.stopped_by = limit

    def keep_going(self) -> bool:
        """Answer the epoch watcher: False once the call is past its deadline or stopped."""
        if self.stopped_by is None and time.monotonic() >= self._deadline:
            self.stop("time")
        return self.stopped_by is None

    def remaining_ns(self) -> int:
        """Nanoseconds left before the call's deadline (0 once it has passed)."""
        return max(0, int((self._deadline - time.monotonic()) * 1e9))

    def elapsed_s(self) -> float:
        """Seconds since the call started."""
        return time.perf_counter() - self.started
