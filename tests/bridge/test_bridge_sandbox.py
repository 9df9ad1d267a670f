"""`toolkernel mcp --sandbox`: the bridge drives a sandboxed kernel, whose own tool host
asks the bridge's MCP client for approvals (by elicitation, relayed by the bridge).

A real `toolkernel mcp --sandbox` process over stdio, a real `ClientSession` whose
elicitation callback accepts one approval and declines another, a real sandboxed kernel
(bubblewrap) and its real host, with a policy file given through the kernelspec's
environment (`TOOLKERNEL_SANDBOX_POLICY`).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import types
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from sandboxed_support import provisioner_site, sandboxed_spec
from tk_support import python_server, write_config
from toolkernel.bridge import load_bridge, run_bridge
from toolkernel.errors import BridgeError

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bwrap"),
]
TOOLKERNEL = str(Path(sys.executable).parent / "toolkernel")


def text_of(result: Any) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")


def test_the_client_approves_one_call_and_denies_a_destructive_one_in_the_sandbox(
    tmp_path: Path,
) -> None:
    assert provisioner_site(tmp_path / "site") is None
    servers = {
        "echo": python_server("echo_server.py"),
        "guarded": python_server("guarded_server.py"),
    }
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"approve": ["echo.add"], "approve_destructive": True}))
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    env = {
        **os.environ,
        "JUPYTER_PATH": str(sandboxed_spec(tmp_path / "prefix")),
        "TOOLKERNEL_HOME": str(tmp_path / "home"),
        "TOOLKERNEL_MCP_CONFIG": str(write_config(tmp_path / "mcp.json", servers)),
        "TOOLKERNEL_SANDBOX_POLICY": str(policy),
        "TOOLKERNEL_SANDBOX_BACKEND": "bwrap",
    }
    params = StdioServerParameters(
        command=TOOLKERNEL, args=["mcp", "--sandbox"], env=env, cwd=str(workspace)
    )
    asked: list[str] = []

    async def elicit(context: Any, params: Any) -> types.ElicitResult:
        asked.append(params.message)
        if "echo.add" in params.message:
            return types.ElicitResult(action="accept", content={"answer": "allow"})
        return types.ElicitResult(action="decline")

    async def scenario() -> list[str]:
        async with (
            stdio_client(params) as (read, write),
            ClientSession(read, write, elicitation_callback=elicit) as session,
        ):
            await session.initialize()

            async def run(code: str) -> str:
                result = await session.call_tool("execute_code", {"code": code})
                return text_of(result)

            where = await run(
                "import os\nk = get_ipython().kernel\n(os.environ['TOOLKERNEL_SANDBOXED'], "
                "type(k.toolbox.host).__name__, k._supports_kernel_subshells)"
            )
            await run("await wait_for_servers(30)")
            added = await run("await tools.echo.add(a=1, b=2)")
            denied = await run("await tools.guarded.delete_note(name='a')")
            reached = await run("await tools.guarded.deleted()")
        return [where, added, denied, reached]

    where, added, denied, reached = asyncio.run(asyncio.wait_for(scenario(), 180))
    assert where == "('1', 'RemoteToolHost', False)"  # the bridge's options reached it
    assert added == "3"
    assert "ToolDenied" in denied
    assert "guarded.delete_note" in denied
    assert "the client denied it" in denied
    assert reached == "[]"  # the denied call never reached the server
    assert len(asked) == 2
    assert "echo.add" in asked[0]
    assert "guarded.delete_note" in asked[1]


def test_sandbox_with_another_kernel_or_a_connection_file_is_refused() -> None:
    with pytest.raises(BridgeError, match="--sandbox"):
        run_bridge(load_bridge({"sandbox": True, "kernel_name": "python3"}))
    with pytest.raises(BridgeError, match="--sandbox"):
        run_bridge(load_bridge({"sandbox": True, "connection_file": "/tmp/k.json"}))
