"""Every notebook in examples/ runs top to bottom on the Toolkernel kernel, twice.

They run as `make lab` starts them: from a plain shell, with the project's venv not
activated (its `bin` is not on `PATH`), and a second time in the same home, as a person
who runs a notebook again would.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from toolkernel.cli import main

EXAMPLES = Path(__file__).parents[1] / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))

pytestmark = pytest.mark.timeout(300)


def test_there_are_example_notebooks() -> None:
    assert NOTEBOOKS, "examples/ holds no notebook"


def plain_shell_path() -> str:
    """`PATH` as a shell where this environment is not activated has it."""
    scripts = str(Path(sys.executable).parent)
    return os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != scripts)


def run_notebook(path: Path) -> list[dict[str, object]]:
    """Run `path` top to bottom in examples/ and return its error outputs."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=120,
        kernel_name="toolkernel",
        resources={"metadata": {"path": str(EXAMPLES)}},
    )
    client.execute()
    assert notebook.cells[-1].outputs, "the last cell produced no output"
    return [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_example_notebook_runs_twice_from_a_plain_shell(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not (EXAMPLES / "node_modules" / ".bin" / "mcp-server-filesystem").exists():
        pytest.fail("examples/node_modules is missing: run `bash .ci/setup`")
    # A fresh home, as on a new Binder image: no catalog cache, servers connect first time.
    monkeypatch.setenv("TOOLKERNEL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TOOLKERNEL_MCP_CONFIG", raising=False)
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    monkeypatch.setenv("PATH", plain_shell_path())
    # As `make lab` does: the examples' own mcp.json is approved before Lab starts.
    assert main(["trust", str(EXAMPLES / "mcp.json")]) == 0
    assert run_notebook(path) == []
    assert run_notebook(path) == [], "the notebook fails when it runs a second time"
