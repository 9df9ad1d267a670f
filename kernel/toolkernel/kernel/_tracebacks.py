"""Short notebook tracebacks for toolkernel's own errors.

A failed tool call should read as the user's line and our message, not as a walk
through the runtime, the host and the generated binding. Frames from the toolkernel
package and from generated bindings are dropped from what is shown (the exception
itself keeps its full traceback and cause, for debugging).
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

__all__ = ["install_short_tracebacks", "user_frames"]

_PACKAGE = str(Path(__file__).resolve().parents[1])


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


def install_short_tracebacks(shell: Any, error_type: type[BaseException], bindings: Path) -> None:
    """Show `error_type` errors in `shell` with toolkernel's own frames left out."""
    hidden = (_PACKAGE, str(bindings.resolve()))

    def show(
        self: Any, etype: type[BaseException], value: BaseException, tb: Any, tb_offset: Any = None
    ) -> None:
        cause, suppress = value.__cause__, value.__suppress_context__
        value.__cause__, value.__suppress_context__ = None, True
        try:
            self.showtraceback((etype, value, user_frames(tb, hidden)), tb_offset=tb_offset)
        finally:
            value.__cause__, value.__suppress_context__ = cause, suppress

    shell.set_custom_exc((error_type,), show)
