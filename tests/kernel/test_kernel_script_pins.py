"""A locked notebook reinstalls the exact dependency versions its script tool recorded.

A package index made by the test serves a tiny package; a newer version appears before
the locked notebook runs again, and its environments are gone (a new machine).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from local_index import LocalIndex
from tk_support import TESTS, start_kernel

pytestmark = pytest.mark.timeout(600)

PROBE = "tk-pin-probe"
SOURCE = (TESTS / "script_sources" / "uses_pin_probe.py").read_text(encoding="utf-8")


def create(name: str) -> str:
    return (
        f"create_tool({name!r}, kind='script', language='python', source={SOURCE!r}, "
        f"requirements=[{PROBE!r}])"
    )


def test_a_locked_notebook_reinstalls_the_versions_it_recorded(tmp_path: Path) -> None:
    notebook = tmp_path / "report.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), notebook)
    with LocalIndex(tmp_path / "index") as index:
        env = {"PIP_INDEX_URL": index.pip_url}
        index.add_wheel(PROBE, "1.0")
        first = start_kernel(tmp_path, None, extra_env=env)
        try:
            first.execute(create("probe"), timeout=300)
            assert first.value("await tools.local.probe()") == {"version": "1.0"}
            versions = "tool_versions('local.probe')"
            assert first.value(f"{versions}[-1].dependencies") == [f"{PROBE}==1.0"]
            assert f"installs {PROBE}==1.0" in first.value(f"repr({versions}[-1])")
            assert f"Installs: {PROBE}==1.0" in first.execute("%tools show local.probe").stdout
            out = first.execute(f"%tools lock {notebook}")
            assert f"local.probe: version 1 ({PROBE}==1.0)" in out.stdout
        finally:
            first.shutdown()
        lock = json.loads(notebook.read_text(encoding="utf-8"))["metadata"]["toolkernel"]["lock"]
        assert lock["tools"]["local.probe"] == {"version": 1, "dependencies": [f"{PROBE}==1.0"]}

        index.add_wheel(PROBE, "2.0")
        shutil.rmtree(tmp_path / "home" / "envs")
        second = start_kernel(tmp_path, None, extra_env={**env, "JPY_SESSION_NAME": str(notebook)})
        try:
            assert second.value("await tools.local.probe()") == {"version": "1.0"}
            second.execute(create("probe"), timeout=300)  # the notebook run top to bottom
            assert second.value("len(tool_versions('local.probe'))") == 1
            assert second.value("await tools.local.probe()") == {"version": "1.0"}
            second.execute(create("fresh"), timeout=300)  # not locked: today's index
            assert second.value("await tools.local.fresh()") == {"version": "2.0"}
        finally:
            second.shutdown()
