"""The kernel's stdout and stderr: ipykernel's streams, without the cost of empty flushes.

ipykernel flushes both streams several times around every request, and each flush waits
for a round trip through the IOPub thread even when nothing was written: about 0.1 ms
each, a large part of a short cell's time. `ToolOutStream` skips that wait when there
is nothing to send. Everything written is still sent, in order, before `flush` returns.
"""

from __future__ import annotations

from typing import Any

from ipykernel.iostream import OutStream

__all__ = ["ToolOutStream"]


class ToolOutStream(OutStream):
    """An `OutStream` whose `flush` returns at once when nothing is buffered or in flight.

    A flush is needed while text waits in a buffer, while a flush is scheduled, or while
    the IOPub thread is sending the text it took from the buffers (`_sending`): then it
    waits as ipykernel's does. With an `echo` stream (a terminal copy), it always flushes.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._sending = False
        super().__init__(*args, **kwargs)

    def flush(self) -> None:
        """Send what was written, and wait until it is sent; nothing to do returns at once."""
        if self._nothing_to_send():
            return
        super().flush()

    def _flush(self) -> None:
        self._sending = True
        try:
            super()._flush()
        finally:
            self._sending = False

    def _nothing_to_send(self) -> bool:
        if self.echo is not None or self._sending or self._flush_pending:
            return False
        if self._subprocess_flush_pending:
            return False
        with self._buffer_lock:
            return not self._buffers
