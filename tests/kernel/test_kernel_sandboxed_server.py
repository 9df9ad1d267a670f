"""The sandboxed kernel started by a real Jupyter Server (JupyterLab's path), over REST."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.test_bridge_gateway import JupyterServer
from sandboxed_support import provisioner_site, sandboxed_spec
from tk_support import LoopThread
from toolkernel.bridge._gateway import GatewayKernel
from toolkernel.kernelspec import SANDBOXED_KERNEL_NAME

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def jupyter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[JupyterServer]:
    """A Jupyter Server that knows the sandboxed kernelspec and its provisioner."""
    site = provisioner_site(tmp_path / "site")
    monkeypatch.setenv("JUPYTER_PATH", str(sandboxed_spec(tmp_path / "prefix")))
    if site is not None:
        path = [str(site), *filter(None, [os.environ.get("PYTHONPATH")])]
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(path))
    root = tmp_path / "root"
    root.mkdir()
    server = JupyterServer(root)
    yield server
    server.stop()


def test_a_jupyter_server_starts_the_sandboxed_kernel_and_runs_a_cell(
    jupyter: JupyterServer,
) -> None:
    loop = LoopThread(wait=90)
    kernel = GatewayKernel(jupyter.target(kernel_name=SANDBOXED_KERNEL_NAME))
    try:
        client = loop.run(kernel.start(60))
        code = "import os; print(os.environ['TOOLKERNEL_SANDBOXED'], os.path.exists('/etc/shadow'))"
        out = loop.run(_run(client, code))
        assert out.split() == ["1", "False"]
    finally:
        loop.run(kernel.shutdown())
        loop.close()
    assert jupyter.kernels() == []


async def _run(client: Any, code: str) -> str:
    """Run `code` through the websocket client; return its stdout once the kernel is idle."""
    msg_id = client.execute(code)
    out = ""
    async with asyncio.timeout(60):
        while True:
            msg = await client.iopub_channel.get_msg()
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                out += msg["content"]["text"]
            if msg["msg_type"] == "error":
                raise AssertionError("\n".join(msg["content"]["traceback"]))
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return out
