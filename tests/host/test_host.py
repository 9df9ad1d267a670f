"""ToolHost against real MCP servers over stdio and streamable HTTP, in process."""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tk_support import python_server
from toolkernel.config import parse_config
from toolkernel.errors import ServerUnavailable, ToolInputError, ToolNotFound
from toolkernel.host import ToolHost
from toolkernel.registry import ToolRegistry

WAIT = 30


def make_host(tmp_path: Path, servers: dict[str, Any], **kwargs: Any) -> ToolHost:
    registry = ToolRegistry(tmp_path / "home")
    host = ToolHost(
        parse_config({"mcpServers": servers}),
        registry=registry,
        logs_dir=tmp_path / "logs",
        **kwargs,
    )
    host.start()
    return host


@pytest.fixture
def echo_host(tmp_path: Path) -> Iterator[ToolHost]:
    host = make_host(tmp_path, {"echo": python_server("echo_server.py")})
    assert host.submit(host.wait_settled(WAIT)).result(WAIT)
    yield host
    host.stop()


def call(host: ToolHost, name: str, args: dict[str, Any] | None = None, **kw: Any) -> Any:
    return host.submit(host.call(name, args or {}, **kw)).result(WAIT)


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
    futures = [
        echo_host.submit(echo_host.call("echo.rendezvous", {"parties": 8, "timeout": 20}))
        for _ in range(8)
    ]
    results = [f.result(WAIT) for f in futures]
    assert all(not r.is_error for r in results), [r.content for r in results]


def test_cancelling_a_call_sends_cancelled_to_the_server(echo_host: ToolHost) -> None:
    started = threading.Event()
    future = echo_host.submit(
        echo_host.call("echo.slow", {"seconds": 30}, on_progress=lambda *_: started.set())
    )
    assert started.wait(WAIT)
    future.cancel()
    with pytest.raises(concurrent.futures.CancelledError):
        future.result(WAIT)
    seen = call(echo_host, "echo.cancellations", {"wait_for": 1, "timeout": 20})
    assert "cancelled slow 30" in str(seen.structured)
    assert call(echo_host, "echo.echo", {"text": "still here"}).content[0]["text"] == "still here"


def test_a_server_dying_mid_call_raises_and_reconnects_on_the_next_call(
    echo_host: ToolHost,
) -> None:
    with pytest.raises(ServerUnavailable, match=r"disconnected during the call to echo\.crash"):
        call(echo_host, "echo.crash")
    assert call(echo_host, "echo.echo", {"text": "back"}).content[0]["text"] == "back"
    assert {s.name: s.state for s in echo_host.statuses()} == {"echo": "connected"}


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
        assert host.submit(host.wait_settled(WAIT)).result(WAIT)
        status = {s.name: s for s in host.statuses()}
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


def test_list_changed_updates_the_catalog_and_notifies_subscribers(
    echo_host: ToolHost,
) -> None:
    changed = threading.Event()
    seen: list[str] = []

    def listener(source: str, specs: list[Any]) -> None:
        seen.extend(spec.name for spec in specs)
        changed.set()

    unsubscribe = echo_host.subscribe(listener)
    call(echo_host, "echo.add_tool", {"name": "fresh"})
    assert changed.wait(WAIT)
    unsubscribe()
    assert "fresh" in seen
    assert call(echo_host, "echo.fresh", {"text": "hi"}).content[0]["text"].endswith("hi")
