"""Approvals through the bridge: the kernel's tool policy asks the MCP client by elicitation.

A real kernel, configured through its config file (`ToolPolicy` in its profile's
`ipython_kernel_config.json`), runs the cells the bridge sends; a real MCP client's
elicitation callback answers each approval request.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from mcp import Client, types

from tk_support import LoopThread, python_server, write_config
from toolkernel.bridge import KernelSession, build_server

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LoopThread, Any]]:
    base = tmp_path_factory.mktemp("policy")
    servers = {
        "echo": python_server("echo_server.py"),
        "guarded": python_server("guarded_server.py"),
    }
    profile = base / "ipython" / "profile_default"  # the kernel's config file lives here
    profile.mkdir(parents=True)
    policy = {"approve": ["echo.add"], "approve_destructive": True}
    (profile / "ipython_kernel_config.json").write_text(json.dumps({"ToolPolicy": policy}))
    env = {
        **os.environ,
        "TOOLKERNEL_HOME": str(base / "home"),
        "TOOLKERNEL_MCP_CONFIG": str(write_config(base / "mcp.json", servers)),
        "IPYTHONDIR": str(base / "ipython"),
    }
    loop = LoopThread()
    session = KernelSession(cwd=base, env=env)
    loop.run(session.start())
    server = build_server(session)
    loop.run(execute(server, "await wait_for_servers(30)"))
    yield loop, server
    loop.run(session.shutdown())
    loop.close()


async def execute(server: Any, code: str, **callbacks: Any) -> Any:
    # Handshake-era clients (Claude Desktop, Cursor, ...) can be asked mid-call.
    async with Client(server, mode="legacy", **callbacks) as client:
        return await client.call_tool("execute_code", {"code": code})


def text_of(result: Any) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")


def test_the_client_approves_one_call_and_declines_another(bridge: Any) -> None:
    loop, server = bridge
    asked: list[str] = []

    async def elicit(context: Any, params: Any) -> types.ElicitResult:
        asked.append(params.message)
        if "guarded.delete_note" in params.message:
            return types.ElicitResult(action="accept", content={"answer": "allow"})
        return types.ElicitResult(action="decline")

    approved = loop.run(
        execute(server, "await tools.guarded.delete_note(name='a')", elicitation_callback=elicit)
    )
    assert text_of(approved) == repr("deleted a")
    declined = loop.run(
        execute(server, "await tools.echo.add(a=1, b=2)", elicitation_callback=elicit)
    )
    assert declined.is_error
    assert "ToolDenied" in text_of(declined)
    assert "the client denied it" in text_of(declined)
    assert len(asked) == 2
    assert "guarded.delete_note" in asked[0]
    assert '"name": "a"' in asked[0]
    assert "echo.add" in asked[1]

    unasked = loop.run(execute(server, "await tools.guarded.read_note(name='a')"))
    assert text_of(unasked) == repr("note a")
    code = "import json\nprint(json.dumps([[c[k] for k in ('tool', 'outcome', 'approval')] "
    code += "for c in call_history(3)]))"
    audit = json.loads(text_of(loop.run(execute(server, code))))
    assert audit == [
        ["guarded.read_note", "ok", None],
        ["echo.add", "refused", "denied:client"],
        ["guarded.delete_note", "ok", "allowed:client"],
    ]


def test_a_client_without_elicitation_is_denied_with_how_to_allow_it(bridge: Any) -> None:
    loop, server = bridge
    result = loop.run(execute(server, "await tools.guarded.delete_note(name='b')"))
    assert result.is_error
    assert "nobody can be asked" in text_of(result)
    assert "c.ToolPolicy.approve_destructive" in text_of(result)
