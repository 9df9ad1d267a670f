"""Task-augmented calls (MCP tasks) through ToolHost, against npm's server-everything."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tk_support import npm_server
from toolkernel.config import parse_config
from toolkernel.host import ToolHost
from toolkernel.host._tasks import runs_as_task
from toolkernel.registry import ToolRegistry

pytestmark = [pytest.mark.npm, pytest.mark.timeout(120)]

WAIT = 60


def start_host(tmp_path_factory: pytest.TempPathFactory, servers: dict[str, Any]) -> ToolHost:
    base = tmp_path_factory.mktemp("tasks")
    host = ToolHost(
        parse_config({"mcpServers": servers}),
        registry=ToolRegistry(base / "home"),
        logs_dir=base / "logs",
    )
    host.start()
    [status] = asyncio.run(host.statuses(settle=WAIT))
    assert status.state == "connected", status
    return host


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToolHost]:
    host = start_host(
        tmp_path_factory, {"everything": npm_server("mcp-server-everything", "stdio")}
    )
    yield host
    host.stop()


@pytest.fixture(scope="module")
def http_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToolHost]:
    """server-everything over streamable HTTP, on a free port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    entry = npm_server("mcp-server-everything", "streamableHttp")
    process = subprocess.Popen(
        [entry["command"], *entry["args"]],
        env={**os.environ, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        for line in process.stderr:  # bounded by the module's timeout
            if "listening on port" in line:
                break
        servers = {"everything": {"url": f"http://127.0.0.1:{port}/mcp"}}
        host = start_host(tmp_path_factory, servers)
        yield host
        host.stop()
    finally:
        process.terminate()
        process.wait(timeout=10)


def run(work: Any) -> Any:
    return asyncio.run(asyncio.wait_for(work, WAIT))


def test_a_task_only_tool_is_called_as_a_task_and_reports_its_stages(host: ToolHost) -> None:
    seen: list[str | None] = []
    result = run(
        host.call(
            "everything.simulate-research-query",
            {"topic": "tides"},
            on_progress=lambda _p, _t, message: seen.append(message),
        )
    )
    assert not result.is_error
    assert "# Research Report: tides" in result.content[0]["text"]
    assert "Gathering sources..." in seen
    assert "Generating report..." in seen


def test_a_task_asking_for_input_is_answered_by_the_calls_relay(host: ToolHost) -> None:
    asked: list[dict[str, Any]] = []

    async def relay(method: str, params: dict[str, Any]) -> dict[str, Any]:
        asked.append({"method": method, **params})
        return {"action": "accept", "content": {"interpretation": "snake"}}

    result = run(
        host.call(
            "everything.simulate-research-query",
            {"topic": "python", "ambiguous": True},
            relay=relay,
        )
    )
    assert [a["method"] for a in asked] == ["elicitation/create"]
    assert "Research Report: python (snake)" in result.content[0]["text"]


def test_cancelling_a_task_call_cancels_the_task_on_the_server(host: ToolHost) -> None:
    started = asyncio.Event()

    async def cancel_once_working() -> None:
        loop = asyncio.get_running_loop()

        def progress(_p: float, _t: float | None, _m: str | None) -> None:
            loop.call_soon_threadsafe(started.set)

        call = asyncio.ensure_future(
            host.call("everything.simulate-research-query", {"topic": "x"}, on_progress=progress)
        )
        await started.wait()
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call

    run(cancel_once_working())
    statuses = run(host._on_host_loop(_task_statuses(host)))
    assert "cancelled" in statuses


async def _task_statuses(host: ToolHost) -> list[str]:
    from mcp import types

    session = await host._connections["everything"].ensure_connected()
    listed = await session.send_request(types.ListTasksRequest(), types.ListTasksResult)
    return [task.status for task in listed.tasks]


def test_a_task_only_tool_runs_as_a_task_over_streamable_http(http_host: ToolHost) -> None:
    seen: list[str | None] = []
    result = run(
        http_host.call(
            "everything.simulate-research-query",
            {"topic": "waves"},
            on_progress=lambda _p, _t, message: seen.append(message),
        )
    )
    assert "# Research Report: waves" in result.content[0]["text"]
    assert "Generating report..." in seen


@pytest.mark.parametrize(
    ("support", "over_http", "expected"),
    [
        ("required", False, True),
        ("required", True, True),
        ("optional", True, True),
        ("optional", False, False),
        ("forbidden", True, False),
        (None, True, False),
    ],
)
def test_which_calls_run_as_tasks(support: str | None, *, over_http: bool, expected: bool) -> None:
    assert runs_as_task(support, over_http=over_http) is expected
