"""Every notebook in examples/ runs top to bottom on the Toolkernel kernel (as on Binder)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

EXAMPLES = Path(__file__).parents[1] / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))

pytestmark = pytest.mark.timeout(300)


def test_there_are_example_notebooks() -> None:
    assert NOTEBOOKS, "examples/ holds no notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_example_notebook_runs_top_to_bottom(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not (EXAMPLES / "node_modules" / ".bin" / "mcp-server-filesystem").exists():
        pytest.fail("examples/node_modules is missing: run `bash .ci/setup`")
    # A fresh home, as on a new Binder image: no catalog cache, servers connect first time.
    monkeypatch.setenv("TOOLKERNEL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TOOLKERNEL_MCP_CONFIG", raising=False)
    # examples/mcp.json starts servers with `python`: the one of this environment.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=120,
        kernel_name="toolkernel",
        resources={"metadata": {"path": str(EXAMPLES)}},
    )
    client.execute()
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert not errors
    assert notebook.cells[-1].outputs, "the last cell produced no output"
