"""A warm pool of kernels: started ahead of need, so a new session gets one at once.

Each kernel in the pool is a started `KernelSession` (its channel open, so its catalog
is loaded). `take` hands out a ready kernel, or starts one when none is ready; either
way the pool refills in the background. A pooled kernel found dead when taken is
discarded, never handed out. The pool only calls a factory, so a kernel started on a
gateway (`--gateway-url`) is pooled like a local one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from toolkernel.bridge._session import KernelSession

__all__ = ["KernelPool", "PoolStats"]

log = logging.getLogger("toolkernel.bridge")

_KEPT_TIMINGS = 1000
_FAILURE_BACKOFF_S = 5.0


@dataclass
class PoolStats:
    """What the pool has done, for a status endpoint and the load benchmark.

    Attributes:
        size: How many ready kernels the pool keeps.
        ready: How many are ready now.
        starting: How many are starting now (refills, and starts for a take).
        taken: Kernels handed out.
        discarded: Pooled kernels found dead and thrown away.
        failed: Starts that failed.
        start_s: Seconds each recent start took (newest last).
        wait_s: Seconds each recent `take` waited (0 when a kernel was ready).
    """

    size: int
    ready: int = 0
    starting: int = 0
    taken: int = 0
    discarded: int = 0
    failed: int = 0
    start_s: list[float] = field(default_factory=list)
    wait_s: list[float] = field(default_factory=list)


class KernelPool:
    """Keeps `size` started kernels ready; `take` hands one out and refills behind it."""

    def __init__(
        self, factory: Callable[[], KernelSession], *, size: int, max_starting: int = 0
    ) -> None:
        """Describe the pool; nothing starts until `start()`.

        Args:
            factory: Makes an unstarted kernel (local, or on a gateway).
            size: Ready kernels to keep; 0 starts every kernel on demand.
            max_starting: The most kernels starting at once (others queue, so fifty new
                sessions do not start fifty kernels on two cores and time them all out);
                0: the number of CPUs, at least 2.
        """
        self._factory = factory
        self._starts = asyncio.Semaphore(max_starting or max(os.cpu_count() or 1, 2))
        self._ready: asyncio.Queue[KernelSession] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._retry_after = 0.0
        self.stats = PoolStats(size=max(size, 0))

    def start(self) -> None:
        """Begin filling the pool in the background (a running event loop is needed)."""
        self._refill()

    async def take(self) -> KernelSession:
        """Return a started, live kernel: a pooled one if ready, else a new one.

        Raises:
            BridgeError: No kernel was ready and a new one failed to start.
        """
        started = time.monotonic()
        try:
            while not self._ready.empty():
                kernel = self._ready.get_nowait()
                if await kernel.is_alive():
                    return kernel
                self.stats.discarded += 1
                await _shut(kernel)
            self._refill()  # the pool is empty: refill it while this one starts
            return await self._start_one()
        finally:
            self.stats.taken += 1
            self.stats.ready = self._ready.qsize()
            _keep(self.stats.wait_s, time.monotonic() - started)
            self._refill()

    async def close(self) -> None:
        """Stop refilling and shut down every pooled kernel (not the ones handed out)."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        ready = [self._ready.get_nowait() for _ in range(self._ready.qsize())]
        await asyncio.gather(*(_shut(kernel) for kernel in ready))
        self.stats.ready = 0

    def _refill(self) -> None:
        """Start enough kernels that ready + filling reaches the size (never after close)."""
        if self._closed or time.monotonic() < self._retry_after:
            return
        missing = self.stats.size - self._ready.qsize() - self._filling()
        for _ in range(max(missing, 0)):
            task = asyncio.create_task(self._fill_one())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _filling(self) -> int:
        return sum(1 for task in self._tasks if not task.done())

    async def _fill_one(self) -> None:
        try:
            kernel = await self._start_one()
        except Exception:
            # A failing target (a gateway down) is not hammered: refills pause a while.
            log.warning("a pool kernel failed to start", exc_info=True)
            self._retry_after = time.monotonic() + _FAILURE_BACKOFF_S
            return
        if self._closed:
            await _shut(kernel)
            return
        self._ready.put_nowait(kernel)
        self.stats.ready = self._ready.qsize()

    async def _start_one(self) -> KernelSession:
        async with self._starts:
            return await self._start_now()

    async def _start_now(self) -> KernelSession:
        kernel = self._factory()
        started = time.monotonic()
        self.stats.starting += 1
        try:
            await kernel.start()
        except BaseException:
            self.stats.failed += 1
            await _shut(kernel)
            raise
        finally:
            self.stats.starting -= 1
        _keep(self.stats.start_s, time.monotonic() - started)
        return kernel


async def _shut(kernel: KernelSession) -> None:
    """Shut `kernel` down whatever state it is in (shielded: it must not leak)."""
    with contextlib.suppress(Exception):
        await asyncio.shield(kernel.shutdown())


def _keep(timings: list[float], value: float) -> None:
    timings.append(value)
    del timings[:-_KEPT_TIMINGS]
