"""The bridge's `--max-tool-calls` caps each cell it sends; the call history over the channel."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tk_support import LoopThread, echo_env
from toolkernel.bridge import KernelSession
from toolkernel.bridge._channel import ChannelError

pytestmark = pytest.mark.timeout(180)
CAP = 2


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LoopThread, Any]]:
    base = tmp_path_factory.mktemp("cap")
    loop = LoopThread()
    kernel = KernelSession(cwd=base, env=echo_env(base), max_tool_calls=CAP)
    loop.run(kernel.start())
    loop.run(kernel.request("session/ready", {"timeout_s": 30}))
    loop.run(kernel.execute("await wait_for_servers(30)", timeout=60))
    yield loop, kernel
    loop.run(kernel.shutdown())
    loop.close()


def test_a_cell_over_the_bridges_cap_fails_naming_it(session: Any) -> None:
    loop, kernel = session
    code = f"for i in range({CAP + 1}):\n    await tools.echo.add(a=i, b=0)"
    out = loop.run(kernel.execute(code, timeout=60))
    assert out.error is not None
    name, message, _ = out.error
    assert name == "ToolCallLimit"
    assert f"max_tool_calls={CAP}" in message


def test_a_cell_within_the_cap_runs(session: Any) -> None:
    loop, kernel = session
    code = f"[await tools.echo.add(a=i, b=1) for i in range({CAP})]"
    out = loop.run(kernel.execute(code, timeout=60))
    assert out.error is None
    assert out.result == str([i + 1 for i in range(CAP)])


def test_the_history_over_the_channel_has_each_cells_execution_count(session: Any) -> None:
    loop, kernel = session
    loop.run(kernel.execute("await tools.echo.echo(text='one')", timeout=60))
    loop.run(kernel.execute("await tools.echo.echo(text='two')", timeout=60))
    rows = loop.run(kernel.request("tools/history", {"limit": 2, "tool": "echo.echo"}))
    assert [row["outcome"] for row in rows] == ["ok", "ok"]
    assert rows[0]["execution_count"] == rows[1]["execution_count"] + 1
    assert rows[0]["arguments_bytes"] == len('{"text":"two"}')


def test_a_bad_history_limit_is_a_channel_error(session: Any) -> None:
    loop, kernel = session
    with pytest.raises(ChannelError, match="limit must be an int from 1 to 10000"):
        loop.run(kernel.request("tools/history", {"limit": 0}))
