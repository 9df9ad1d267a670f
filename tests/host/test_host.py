"""ToolHost against real MCP servers over stdio and streamable HTTP, in process.

Every test awaits the host from loops of its own (`asyncio.run` in the test's thread, or
in several threads at once): the host hops onto its own loop itself.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tk_support import python_server
from toolkernel._spec import ToolResult, ToolSpec
from toolkernel.config import parse_config
from toolkernel.errors import ServerUnavailable, ToolInputError, ToolNotFound
from toolkernel.factory import ToolFactory
from toolkernel.host import ServerStatus, ToolHost
from toolkernel.registry import ToolRegistry

WAIT = 30
T = TypeVar("T")


def make_host(
    tmp_path: Path, servers: dict[str, Any], registry: ToolRegistry | None = None, **kwargs: Any
) -> ToolHost:
    host = ToolHost(
        parse_config({"mcpServers": servers}),
        registry=registry or ToolRegistry(tmp_path / "home"),
        logs_dir=tmp_path / "logs",
        **kwargs,
    )
    host.start()
    return host


def run(work: Coroutine[Any, Any, T]) -> T:
    """Await `work` on a new event loop of this thread, bounded."""
    return asyncio.run(asyncio.wait_for(work, WAIT))


def settle(host: ToolHost) -> dict[str, ServerStatus]:
    statuses = run(host.statuses(settle=WAIT))
    assert all(s.state != "connecting" for s in statuses), statuses
    return {s.name: s for s in statuses}


@pytest.fixture
def echo_host(tmp_path: Path) -> Iterator[ToolHost]:
    host = make_host(tmp_path, {"echo": python_server("echo_server.py")})
    settle(host)
    yield host
    host.stop()


def call(host: ToolHost, name: str, args: dict[str, Any] | None = None, **kw: Any) -> Any:
    return run(host.call(name, args or {}, **kw))


def test_a_text_result_keeps_its_text(echo_host: ToolHost) -> None:
    result = call(echo_host, "echo.echo", {"text": "123"})
    assert result.content == [{"type": "text", "text": "123"}]
    assert result.structured is None
    assert not result.is_error


def test_the_original_hyphenated_name_is_what_is_sent(echo_host: ToolHost) -> None:
    result = call(echo_host, "echo.get-weather", {"city": "Oslo"})
    assert result.structured is not None
    assert not result.is_error


def test_an_is_error_result_comes_back_marked(echo_host: ToolHost) -> None:
    result = call(echo_host, "echo.fail", {"message": "disk on fire"})
    assert result.is_error
    assert result.error_message() == "disk on fire"


def test_arguments_failing_the_schema_are_refused_before_sending(echo_host: ToolHost) -> None:
    with pytest.raises(ToolInputError, match=r"echo\.add: arguments: 'b' is a required"):
        call(echo_host, "echo.add", {"a": 1})
    with pytest.raises(ToolInputError, match="is not of type 'integer'"):
        call(echo_host, "echo.add", {"a": "one", "b": 2})


def test_unknown_tools_and_servers_are_named_in_the_error(echo_host: ToolHost) -> None:
    with pytest.raises(ToolNotFound, match=r"it offers: .*echo"):
        call(echo_host, "echo.nope")
    with pytest.raises(ToolNotFound, match="servers: echo"):
        call(echo_host, "other.tool")


def test_progress_reaches_the_callback(echo_host: ToolHost) -> None:
    seen: list[tuple[float, float | None, str | None]] = []
    call(echo_host, "echo.progress", {"steps": 3}, on_progress=lambda *a: seen.append(a))
    assert [(p, t) for p, t, _ in seen][-1] == (3, 3)


def test_many_calls_in_flight_run_concurrently(echo_host: ToolHost) -> None:
    async def gather() -> list[ToolResult]:
        rendezvous = {"parties": 8, "timeout": 20}
        return await asyncio.gather(
            *(echo_host.call("echo.rendezvous", rendezvous) for _ in range(8))
        )

    results = run(gather())
    assert all(not r.is_error for r in results), [r.content for r in results]


def test_calls_awaited_on_loops_in_other_threads_meet_on_the_host(echo_host: ToolHost) -> None:
    results: list[ToolResult] = []

    def caller() -> None:
        results.append(call(echo_host, "echo.rendezvous", {"parties": 4, "timeout": 20}))

    threads = [threading.Thread(target=caller) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert len(results) == 4
    assert all(not r.is_error for r in results), [r.content for r in results]


def test_cancelling_a_call_sends_cancelled_to_the_server(echo_host: ToolHost) -> None:
    async def start_then_cancel() -> None:
        loop = asyncio.get_running_loop()
        started = asyncio.Event()
        task = asyncio.create_task(
            echo_host.call(
                "echo.slow",
                {"seconds": 30},
                on_progress=lambda *_: loop.call_soon_threadsafe(started.set),
            )
        )
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(start_then_cancel())
    seen = call(echo_host, "echo.cancellations", {"wait_for": 1, "timeout": 20})
    assert "cancelled slow 30" in str(seen.structured)
    assert call(echo_host, "echo.echo", {"text": "still here"}).content[0]["text"] == "still here"


def test_a_server_dying_mid_call_raises_and_reconnects_on_the_next_call(
    echo_host: ToolHost,
) -> None:
    with pytest.raises(
        ServerUnavailable, match=r"disconnected during the call to echo\.crash"
    ) as e:
        call(echo_host, "echo.crash")
    assert "not sent again, since the server may have run it" in str(e.value)
    assert call(echo_host, "echo.echo", {"text": "back"}).content[0]["text"] == "back"
    assert [(s.name, s.state) for s in run(echo_host.statuses())] == [("echo", "connected")]


def test_missing_crashing_and_hanging_servers_fail_without_blocking_others(
    tmp_path: Path,
) -> None:
    host = make_host(
        tmp_path,
        {
            "missing": {"command": "definitely-not-installed-xyz"},
            "crashes": python_server("crash_server.py"),
            "hangs": python_server("hang_server.py"),
            "echo": python_server("echo_server.py"),
        },
        connect_timeout=12,  # generous: a Python server under load can take seconds to start
    )
    try:
        status = settle(host)
        assert status["echo"].state == "connected"
        assert "was not found" in (status["missing"].detail or "")
        assert status["crashes"].state == "failed"
        assert "within 12 s" in (status["hangs"].detail or "")
        assert call(host, "echo.echo", {"text": "ok"}).content[0]["text"] == "ok"
        with pytest.raises(ServerUnavailable, match="was not found"):
            call(host, "missing.anything")
        registry_view = {s.name: s.state for s in ToolRegistry(tmp_path / "home").server_statuses()}
        assert registry_view["echo"] == "connected"
        assert registry_view["hangs"] == "failed"
    finally:
        host.stop()


def test_catalog_is_cached_in_the_registry(echo_host: ToolHost, tmp_path: Path) -> None:
    cached = ToolRegistry(tmp_path / "home").load_catalog("echo")
    assert cached is not None
    assert "get-weather" in {spec.name for spec in cached}
    live = run(echo_host.catalog())
    assert {spec.name for spec in live["echo"]} == {spec.name for spec in cached}


def test_a_new_host_serves_the_cached_catalog_before_its_server_answers(
    echo_host: ToolHost, tmp_path: Path
) -> None:
    registry = ToolRegistry(tmp_path / "home")
    unstarted = ToolHost(
        parse_config({"mcpServers": {"echo": python_server("echo_server.py")}}),
        registry=registry,
        logs_dir=tmp_path / "logs",
    )
    try:
        assert "get-weather" in {spec.name for spec in run(unstarted.catalog())["echo"]}
        assert [s.state for s in run(unstarted.statuses(settle=WAIT))] == ["connecting"]
    finally:
        unstarted.stop()
        registry.close()


def test_a_subscriber_hears_the_catalog_at_once_then_each_change(echo_host: ToolHost) -> None:
    heard: list[tuple[str, set[str]]] = []
    fresh = threading.Event()

    def listener(source: str, specs: list[ToolSpec]) -> None:
        heard.append((source, {spec.name for spec in specs}))
        if any(spec.name == "fresh" for spec in specs):
            fresh.set()

    unsubscribe = echo_host.subscribe(listener)
    assert [source for source, _ in heard] == ["echo"]  # the catalog now, before returning
    assert "fresh" not in heard[0][1]
    call(echo_host, "echo.add_tool", {"name": "fresh"})
    assert fresh.wait(WAIT)
    unsubscribe()
    assert "fresh" in heard[-1][1]
    assert call(echo_host, "echo.fresh", {"text": "hi"}).content[0]["text"].endswith("hi")


def test_a_tool_stored_through_the_registry_is_served_before_the_write_returns(
    tmp_path: Path,
) -> None:
    registry = ToolRegistry(tmp_path / "home")  # the host's own: its writes are told at once
    host = make_host(tmp_path, {"echo": python_server("echo_server.py")}, registry)
    heard: list[str] = []
    try:
        settle(host)  # the pipeline's step is checked against echo's (cached) catalog
        unsubscribe = host.subscribe(lambda source, specs: heard.append(source))
        factory = ToolFactory(registry, reserved={"echo"}, cache_dir=tmp_path / "cache")
        step = {"id": "say", "tool": "echo.echo", "args": {"text": "hi ${input.who}"}}
        factory.create("local.greet", kind="pipeline", steps=[step])
        unsubscribe()
        assert heard[-1] == "local"
        assert "greet" in {spec.name for spec in run(host.catalog())["local"]}
        assert call(host, "local.greet", {"who": "ada"}).structured == "hi ada"
    finally:
        host.stop()
        registry.close()
