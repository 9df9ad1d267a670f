"""Reader and writer threads for a child's pipes, and killing its whole process group."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable
from typing import IO

__all__ = ["Capture", "feed", "kill_group"]

_CHUNK = 65536


def kill_group(pid: int) -> None:
    """SIGKILL the process group led by `pid` (started with `start_new_session=True`).

    Under bwrap, firejail and nsjail the group's leader holds the sandbox's pid
    namespace, so killing it ends every process inside, wherever their sessions are.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone
        os.killpg(pid, signal.SIGKILL)


class Capture:
    """Reads one pipe on a thread: keeps up to `cap` bytes, passes complete lines on.

    Over the cap it stops reading, sets `overflowed` and calls `on_stop` (which kills
    the child). An exception from `on_line` is kept in `error` and calls `on_stop` too.
    Lines are decoded as UTF-8 (bad bytes replaced) and given without their newline.
    """

    def __init__(
        self,
        pipe: IO[bytes],
        *,
        cap: int,
        on_line: Callable[[str], None] | None,
        on_stop: Callable[[], None],
    ) -> None:
        self.data = bytearray()
        self.overflowed = False
        self.error: BaseException | None = None
        self._fd = pipe.fileno()
        self._cap = cap
        self._on_line = on_line
        self._on_stop = on_stop
        self._partial = b""
        self._thread = threading.Thread(target=self._pump, daemon=True, name="sandbox-reader")

    def start(self) -> None:
        """Start reading."""
        self._thread.start()

    def join(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for end of file; True if reading finished."""
        if self._thread.ident is None:
            return True  # never started
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _pump(self) -> None:
        while chunk := os.read(self._fd, _CHUNK):
            room = self._cap - len(self.data)
            self.data += chunk[:room]
            if not self._lines(chunk[:room]) or len(chunk) > room:
                self.overflowed = len(chunk) > room
                self._on_stop()
                return
        self._flush()

    def _lines(self, chunk: bytes) -> bool:
        on_line = self._on_line
        if on_line is None:
            return True
        *complete, self._partial = (self._partial + chunk).split(b"\n")
        return all(self._emit(on_line, line) for line in complete)

    def _flush(self) -> None:
        if self._partial and self._on_line is not None:
            self._emit(self._on_line, self._partial)

    def _emit(self, on_line: Callable[[str], None], line: bytes) -> bool:
        try:
            on_line(line.decode("utf-8", errors="replace"))
        except Exception as exc:  # re-raised by `run`, on the caller's thread
            self.error = exc
            return False
        return True


def feed(pipe: IO[bytes], data: bytes) -> threading.Thread:
    """Write `data` to `pipe` on a thread and close it; a child that stops reading is fine."""

    def write() -> None:
        try:
            if data:
                pipe.write(data)
        except OSError:
            pass  # the child exited or closed stdin; its exit status tells the story
        finally:
            with contextlib.suppress(OSError):
                pipe.close()

    thread = threading.Thread(target=write, daemon=True, name="sandbox-stdin")
    thread.start()
    return thread
