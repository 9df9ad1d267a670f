"""A kernel per HTTP session when the kernels run on a real `jupyter server` (--gateway-url).

The pool only calls the kernel factory, so its kernels start on the server like any
gateway kernel; the server's own kernel list is the observable.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from test_bridge_sessions import _bridge, _client, _own_variable, _status, _until

from gateway_support import JupyterServer

pytestmark = pytest.mark.timeout(300)


def test_sessions_through_a_gateway_each_get_their_own_kernel_from_the_pool(
    jupyter_server: JupyterServer, tmp_path: Path
) -> None:
    async def one(url: str, i: int) -> str:
        async with _client(url) as (session, _):
            return await _own_variable(session, i)

    async def scenario(url: str) -> list[str]:
        return await asyncio.gather(one(url, 0), one(url, 1))

    gateway = ["--gateway-url", jupyter_server.url, "--gateway-token", jupyter_server.token]
    (tmp_path / "bridge").mkdir()
    with _bridge(tmp_path / "bridge", *gateway, "--pool-size", "1") as url:
        printed = asyncio.run(asyncio.wait_for(scenario(url), 200))
        # Both sessions ended (DELETE): their kernels are gone from the server, and the
        # pool's one ready kernel is there.
        _until(
            lambda: _status(url)["pool"]["ready"] == 1 and len(jupyter_server.kernels()) == 1,
            lambda: f"bridge: {_status(url)}; server's kernels: {jupyter_server.kernels()}",
        )
        assert _status(url)["pool"]["taken"] == 2
    assert printed == ["0", "1"]
    # The bridge shut its pool down on exit.
    _until(
        lambda: jupyter_server.kernels() == [],
        lambda: f"server's kernels: {jupyter_server.kernels()}",
    )
