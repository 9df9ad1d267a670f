import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolkernel.registry import SERVER_STATES, ServerStatus, ToolRegistry


@pytest.fixture
def registry(home: Path) -> Iterator[ToolRegistry]:
    """A registry in the shared `home` fixture's empty toolkernel home."""
    with ToolRegistry(home) as reg:
        yield reg


def test_server_status_round_trips(registry: ToolRegistry) -> None:
    before = time.time()

    registry.set_server_status("fs", "connected", tool_count=14)
    registry.set_server_status("web", "failed", detail="npx not found; install Node.js")

    statuses = registry.server_statuses()
    assert [(s.name, s.state, s.detail, s.tool_count) for s in statuses] == [
        ("fs", "connected", None, 14),
        ("web", "failed", "npx not found; install Node.js", None),
    ]
    assert all(isinstance(s, ServerStatus) for s in statuses)
    assert all(before <= s.updated_at <= time.time() for s in statuses)


def test_newer_status_replaces_the_old_one(registry: ToolRegistry) -> None:
    registry.set_server_status("fs", "connecting")
    first = registry.server_statuses()[0]

    registry.set_server_status("fs", "disabled", detail="turned off")

    (status,) = registry.server_statuses()
    assert (status.state, status.detail, status.tool_count) == ("disabled", "turned off", None)
    assert status.updated_at >= first.updated_at


def test_unknown_state_is_rejected_with_the_valid_ones(registry: ToolRegistry) -> None:
    with pytest.raises(ValueError, match="connected, connecting, disabled, failed"):
        registry.set_server_status("fs", "up")

    assert registry.server_statuses() == []


def test_every_documented_state_is_accepted(registry: ToolRegistry) -> None:
    for number, state in enumerate(sorted(SERVER_STATES)):
        registry.set_server_status(f"s{number}", state)

    assert sorted(s.state for s in registry.server_statuses()) == sorted(SERVER_STATES)
