"""A server that dies while idle: noticed at once, and the next call reconnects and works."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_host import call, make_host, run, settle

from tk_support import python_server
from toolkernel.host import ServerStatus, ToolHost
from toolkernel.registry import ToolRegistry

WAIT = 20


@pytest.fixture
def mortal(tmp_path: Path) -> Iterator[ToolHost]:
    host = make_host(tmp_path, {"mortal": python_server("mortal_server.py")})
    settle(host)
    yield host
    host.stop()


def server_pid(host: ToolHost) -> int:
    return int(call(host, "mortal.pid").content[0]["text"])


def status_once_not_connected(host: ToolHost) -> ServerStatus:
    """Poll (bounded) until the host no longer reports the server connected."""
    deadline = time.monotonic() + WAIT
    while (status := run(host.statuses())[0]).state == "connected":
        assert time.monotonic() < deadline, f"still shown connected after {WAIT} s"
        time.sleep(0.02)
    return status


def test_a_server_killed_while_idle_is_shown_down_at_once(mortal: ToolHost) -> None:
    os.kill(server_pid(mortal), signal.SIGKILL)
    status = status_once_not_connected(mortal)
    assert status.state == "failed"
    assert status.detail is not None
    assert "went away while connected" in status.detail
    assert "restarts on the next call" in status.detail
    assert status.tool_count == 2  # the cached catalog keeps its bindings


def test_the_registry_status_follows_the_death_for_other_processes(
    tmp_path: Path, mortal: ToolHost
) -> None:
    os.kill(server_pid(mortal), signal.SIGKILL)
    status_once_not_connected(mortal)
    rows = {row.name: row for row in ToolRegistry(tmp_path / "home").server_statuses()}
    assert rows["mortal"].state == "failed"
    assert "went away" in (rows["mortal"].detail or "")


def test_the_first_call_after_an_idle_death_reconnects_and_succeeds(mortal: ToolHost) -> None:
    old = server_pid(mortal)
    os.kill(old, signal.SIGKILL)
    status_once_not_connected(mortal)
    result = call(mortal, "mortal.greet", {"name": "ada"})
    assert not result.is_error
    text = result.content[0]["text"]
    assert text.startswith("hello ada from ")
    assert int(text.rsplit(" ", 1)[1]) != old
    assert run(mortal.statuses())[0].state == "connected"
