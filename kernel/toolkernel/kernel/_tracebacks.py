"""Short notebook tracebacks for toolkernel's own errors, interrupts and timeouts.

A failed tool call should read as the user's line and our message, not as a walk
through the runtime, the host and the generated binding. Frames from the toolkernel
package and from generated bindings are dropped from what is shown (the exception
itself keeps its full traceback and cause, for debugging).

An `AttributeError` raised by the `tools` namespace (an unknown tool, a server that
failed) is shown the same way; any other `AttributeError` keeps its full traceback.

An interrupted cell that was awaiting a tool ends in the `CancelledError` that stopped
the call; it is shown as Python shows an interrupt, a `KeyboardInterrupt` at the
user's line. A timeout (`asyncio.wait_for`, `asyncio.timeout`) around a tool call is
shown as a short `TimeoutError`, without the `CancelledError` it came from.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["install_short_tracebacks", "user_frames"]

_PACKAGE = str(Path(__file__).resolve().parents[1])
_ASYNCIO = str(Path(asyncio.__file__).resolve().parent)


def user_frames(
    tb: types.TracebackType | None, hidden: tuple[str, ...]
) -> types.TracebackType | None:
    """Return a traceback chain without frames whose file lies under `hidden` folders."""
    kept: list[types.TracebackType] = []
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if not filename.startswith(hidden):
            kept.append(tb)
        tb = tb.tb_next
    chain: types.TracebackType | None = None
    for frame in reversed(kept):
        chain = types.TracebackType(chain, frame.tb_frame, frame.tb_lasti, frame.tb_lineno)
    return chain


def install_short_tracebacks(
    shell: Any,
    error_type: type[BaseException],
    bindings: Path,
    interrupted: Callable[[], bool] = lambda: False,
) -> None:
    """Show `error_type` errors, interrupts and timeouts in `shell` without our frames.

    Args:
        shell: The IPython shell.
        error_type: Our errors' root (`ToolkernelError`).
        bindings: The folder of generated bindings, whose frames are hidden too.
        interrupted: Whether the running cell was interrupted (SIGINT); its
            `CancelledError` is then shown as a `KeyboardInterrupt`.
    """
    hidden = (_PACKAGE, str(bindings.resolve()))

    def show(
        self: Any, etype: type[BaseException], value: BaseException, tb: Any, tb_offset: Any = None
    ) -> None:
        if isinstance(value, asyncio.CancelledError):
            if interrupted():
                value, etype = KeyboardInterrupt(), KeyboardInterrupt
            _show_alone(self, etype, value, user_frames(tb, hidden), tb_offset)
        elif isinstance(value, error_type):
            _show_alone(self, etype, value, user_frames(tb, hidden), tb_offset)
        elif isinstance(value, TimeoutError) and _from_cancellation(value):
            _show_alone(self, etype, value, user_frames(tb, (*hidden, _ASYNCIO)), tb_offset)
        elif isinstance(value, AttributeError) and _raised_under(tb, hidden):
            # `tools.<typo>` or a failed server: the namespace's own message says it all.
            _show_alone(self, etype, value, user_frames(tb, hidden), tb_offset)
        else:
            self.showtraceback((etype, value, tb), tb_offset=tb_offset)

    handled = (error_type, asyncio.CancelledError, TimeoutError, AttributeError)
    shell.set_custom_exc(handled, show)


def _raised_under(tb: types.TracebackType | None, folders: tuple[str, ...]) -> bool:
    """Whether the innermost frame of `tb` (where it was raised) lies under `folders`."""
    last = None
    while tb is not None:
        last, tb = tb, tb.tb_next
    return last is not None and last.tb_frame.f_code.co_filename.startswith(folders)


def _from_cancellation(exc: BaseException) -> bool:
    """Whether `exc` is asyncio's timeout: raised while a cancelled await unwound."""
    return isinstance(exc.__cause__ or exc.__context__, asyncio.CancelledError)


def _show_alone(
    shell: Any, etype: type[BaseException], value: BaseException, tb: Any, tb_offset: Any
) -> None:
    """Show `value` with traceback `tb` and without its chained causes."""
    cause, suppress = value.__cause__, value.__suppress_context__
    value.__cause__, value.__suppress_context__ = None, True
    try:
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
    finally:
        value.__cause__, value.__suppress_context__ = cause, suppress
