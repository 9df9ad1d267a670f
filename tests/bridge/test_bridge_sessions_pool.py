"""The warm pool with real kernels: a dead pooled kernel is discarded, and it refills."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from tk_support import echo_env
from toolkernel.bridge._pool import KernelPool
from toolkernel.bridge._session import KernelSession

pytestmark = pytest.mark.timeout(240)


def test_a_pooled_kernel_that_died_is_discarded_not_handed_out(tmp_path: Path) -> None:
    env = echo_env(tmp_path)
    before = {child.pid for child in psutil.Process().children()}

    async def scenario() -> tuple[str, int, int]:
        pool = KernelPool(lambda: KernelSession(env=env, cwd=tmp_path), size=1)
        pool.start()
        try:
            await _until(lambda: pool.stats.ready == 1, within=120)
            pooled = [c for c in psutil.Process().children() if c.pid not in before]
            assert len(pooled) == 1, pooled
            pooled[0].kill()
            await asyncio.to_thread(pooled[0].wait, 30)
            kernel = await pool.take()
            try:
                answer = await kernel.execute("1 + 1", timeout=60)
            finally:
                await kernel.shutdown()
            await _until(lambda: pool.stats.ready == 1, within=120)  # and it refills
            return answer.result or "", pool.stats.discarded, pool.stats.taken
        finally:
            await pool.close()

    result, discarded, taken = asyncio.run(asyncio.wait_for(scenario(), 220))
    assert result == "2"
    assert discarded == 1
    assert taken == 1


async def _until(done: Callable[[], bool], within: float) -> None:
    """Wait until `done()` holds, checking every 50 ms; fail after `within` seconds."""
    async with asyncio.timeout(within):
        while not done():  # noqa: ASYNC110 - the pool's counters have no event to wait on
            await asyncio.sleep(0.05)  # a polling interval, bounded by the timeout
