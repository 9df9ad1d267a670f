import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolkernel import RegistryError
from toolkernel.registry import ToolRegistry
from toolkernel.registry._db import MIGRATIONS


@pytest.fixture
def registry(home: Path) -> Iterator[ToolRegistry]:
    """A registry in the shared `home` fixture's empty toolkernel home."""
    with ToolRegistry(home) as reg:
        yield reg


def test_registry_creates_its_home_and_database(tmp_path: Path) -> None:
    home = tmp_path / "a" / "b"

    with ToolRegistry(home) as registry:
        assert registry.home == home
        assert registry.path == home / "registry.db"

    assert (home / "registry.db").is_file()


def test_database_runs_in_wal_mode_at_the_latest_schema(registry: ToolRegistry) -> None:
    with sqlite3.connect(registry.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_reopening_keeps_data_and_schema(home: Path) -> None:
    with ToolRegistry(home) as registry:
        registry.set_server_status("fs", "connected")

    with ToolRegistry(home) as registry:
        assert [s.name for s in registry.server_statuses()] == ["fs"]


def test_database_from_a_newer_toolkernel_is_refused(home: Path) -> None:
    ToolRegistry(home).close()
    with sqlite3.connect(home / "registry.db") as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")

    with pytest.raises(RegistryError, match="upgrade toolkernel"):
        ToolRegistry(home)


def test_unopenable_home_raises_registry_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")

    with pytest.raises(RegistryError, match="cannot open the registry"):
        ToolRegistry(blocker / "home")


def test_registry_repr_names_its_home(home: Path) -> None:
    with ToolRegistry(home) as registry:
        assert str(home) in repr(registry)
