"""A cell's input transformation, done once per cell instead of twice.

ipykernel transforms a cell (magics, `!` commands, `?` help) to decide whether it runs
as async code, then IPython's `run_cell` transforms it again: about 0.1 ms each here,
on the path of every cell. Between the two calls nothing else runs (no hook, no user
code), so the second call, given the very same string, may take the first answer.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["OneTransformPerCell"]


class OneTransformPerCell:
    """Stands in for `shell.transform_cell`, answering a cell's repeated call from memory.

    Only a call made while `armed` (the kernel's `do_execute` arms it) is remembered, and
    only for the very next call with the same string object. `forget` drops the memory:
    the kernel calls it when the cell's code is about to run (`pre_run_cell`) and when
    `do_execute` ends, so no user code ever gets a remembered answer. A transformation
    that raises is never remembered.
    """

    def __init__(self, transform: Callable[[str], str]) -> None:
        self._transform = transform
        self._last: tuple[str, str] | None = None
        self.armed = False

    def __call__(self, raw_cell: str) -> str:
        """The transformed cell (IPython's `transform_cell`)."""
        last, self._last = self._last, None
        if last is not None and last[0] is raw_cell:
            return last[1]
        cell = self._transform(raw_cell)
        if self.armed:
            self.armed = False
            self._last = (raw_cell, cell)
        return cell

    def forget(self, *_: object) -> None:
        """Drop what is remembered, and stop remembering (an IPython event callback too)."""
        self.armed = False
        self._last = None
