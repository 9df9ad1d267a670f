"""Shared fixtures: a toolkernel home, and real kernels started on demand."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tk_support import start_kernel

pytest_plugins = ["pytest_jupyter.jupyter_server"]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty toolkernel home, also set as $TOOLKERNEL_HOME."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("TOOLKERNEL_HOME", str(path))
    monkeypatch.delenv("TOOLKERNEL_MCP_CONFIG", raising=False)
    return path


@pytest.fixture
def kernel_factory(tmp_path: Path) -> Iterator[Any]:
    """Start kernels on demand (`kernel_factory(servers)`); all are shut down after."""
    started: list[Any] = []

    def factory(servers: dict[str, Any] | None, **kwargs: Any) -> Any:
        base = tmp_path / f"k{len(started)}"
        base.mkdir()
        driver = start_kernel(base, servers, **kwargs)
        started.append(driver)
        return driver

    yield factory
    for driver in started:
        driver.shutdown()
