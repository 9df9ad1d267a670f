"""Running one of the host's coroutines to completion from synchronous code."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run_blocking"]

T = TypeVar("T")


def run_blocking(work: Coroutine[Any, Any, T]) -> T:
    """Run `work` to completion on a short-lived thread of its own, and return its result.

    The host's coroutines may be awaited on any loop, so a fresh one serves; a thread of
    its own also works where this thread already runs a loop (a kernel cell's, while a
    magic or `create_tool` runs). Bound the wait inside `work` (`settle=`).
    """
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="toolkernel-sync") as pool:
        return pool.submit(asyncio.run, work).result()
