"""A kernel per HTTP session when the kernels run on a real `jupyter server` (--gateway-url).

The pool only calls the kernel factory, so its kernels start on the server like any
gateway kernel; the server's own kernel list is the observable.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_bridge_gateway import JupyterServer
from test_bridge_sessions import _bridge, _client, _run, _status

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def jupyter(tmp_path: Path) -> Iterator[JupyterServer]:
    base = tmp_path / "server"
    base.mkdir()
    server = JupyterServer(base)
    yield server
    server.stop()


def test_sessions_through_a_gateway_each_get_their_own_kernel_from_the_pool(
    jupyter: JupyterServer, tmp_path: Path
) -> None:
    async def one(url: str, i: int) -> str:
        async with _client(url) as (session, _):
            await _run(session, f"mine = {i}")
            return await _run(session, "print(mine)")

    async def scenario(url: str) -> list[str]:
        return await asyncio.gather(one(url, 0), one(url, 1))

    gateway = ["--gateway-url", jupyter.url, "--gateway-token", jupyter.token]
    (tmp_path / "bridge").mkdir()
    with _bridge(tmp_path / "bridge", *gateway, "--pool-size", "1") as url:
        printed = asyncio.run(asyncio.wait_for(scenario(url), 200))
        # Both sessions ended (DELETE): their kernels are gone from the server, and the
        # pool's one ready kernel is there.
        _until(
            lambda: _status(url)["pool"]["ready"] == 1 and len(jupyter.kernels()) == 1,
            lambda: f"bridge: {_status(url)}; server's kernels: {jupyter.kernels()}",
        )
        assert _status(url)["pool"]["taken"] == 2
    assert printed == ["0", "1"]
    # The bridge shut its pool down on exit.
    _until(lambda: jupyter.kernels() == [], lambda: f"server's kernels: {jupyter.kernels()}")


def _until(done: Callable[[], bool], state: Callable[[], str], within: float = 120) -> None:
    """Poll `done` until it holds; fail after `within` seconds, saying the `state`."""
    deadline = time.monotonic() + within
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"not done within {within} s: {state()}")
        time.sleep(0.1)  # a polling interval, bounded by the deadline
