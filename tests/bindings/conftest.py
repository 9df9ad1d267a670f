"""Fixtures for the bindings tests: a recording caller, a catalog, a live `tools` namespace."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from bindings_support import SNAPSHOTS, RecordingCaller

from toolkernel import ToolSpec
from toolkernel.bindings import BindingCache, ToolsNamespace, set_caller


@pytest.fixture
def caller() -> Iterator[RecordingCaller]:
    recorder = RecordingCaller()
    set_caller(recorder)
    try:
        yield recorder
    finally:
        set_caller(None)


@pytest.fixture
def demo_specs() -> list[ToolSpec]:
    rows = json.loads((SNAPSHOTS / "demo_server_catalog.json").read_text(encoding="utf-8"))
    return [ToolSpec.from_json(row) for row in rows]


@pytest.fixture
def namespace(tmp_path: Path) -> Iterator[ToolsNamespace]:
    """An installed `tools` namespace; whatever `tools*` modules existed come back after."""
    saved = {k: v for k, v in sys.modules.items() if k == "tools" or k.startswith("tools.")}
    for key in saved:
        del sys.modules[key]
    tools = ToolsNamespace(BindingCache(tmp_path / "bindings"))
    tools.install()
    try:
        yield tools
    finally:
        tools.uninstall()
        for key in [k for k in sys.modules if k == "tools" or k.startswith("tools.")]:
            del sys.modules[key]
        sys.modules.update(saved)
