"""Every benchmark runs green in its quick mode and prints its figures (issue 12).

Benchmarks rot when nothing runs them. Each one here runs with `--quick` (the same code
paths and comparisons at tiny sizes) in its own subprocess on this venv's python, with a
bounded timeout, as `make bench` runs them in full. The list is found by glob, so a new
`bench_*.py` is covered the day it lands, and `run_all.py` must name it too.

A benchmark whose peer project cannot be installed from PyPI says so and still passes in
quick mode; that line is repeated here as a warning, so it shows in the pytest summary.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
BENCHMARKS = sorted([*BENCH.rglob("bench_*.py"), BENCH / "peers" / "compare.py"])
NEEDS_PEER_VENV = {"bench_bridge.py", "compare.py"}
RUN_TIMEOUT_S = 300.0
INSTALL_TIMEOUT_S = 900.0
"""Extra room where a peer's venv is built from PyPI on first use."""
FIGURE = re.compile(r"\d(?:\.\d+)?\s?(?:ms|us|µs|s|x|%)(?![A-Za-z])")
"""A number with its unit, as in `p50 0.412 ms`, `up in 3.1 s`, `1.10x`, `85.9%`."""


def bench_id(path: Path) -> str:
    return str(path.relative_to(BENCH).with_suffix(""))


def timeout_for(path: Path) -> float:
    return RUN_TIMEOUT_S + (INSTALL_TIMEOUT_S if path.name in NEEDS_PEER_VENV else 0.0)


def run_quick(script: Path, *args: str, timeout: float) -> tuple[int, str]:
    """Run `script --quick` from the repository root; return its exit code and output.

    The script runs in its own process group, so a timeout ends everything it started.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLKERNEL_")}
    proc = subprocess.Popen(
        [sys.executable, str(script), "--quick", *args],
        cwd=BENCH.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate(timeout=30)
        pytest.fail(f"{script.name} --quick ran over {timeout:.0f} s:\n{output[-4000:]}")
    return proc.returncode, output


def last_json(output: str) -> Any:
    """The last JSON object printed: one line, or an indented block to the end."""
    lines = output.splitlines()
    for index in reversed(range(len(lines))):
        if lines[index].startswith("{"):
            try:
                return json.loads("\n".join(lines[index:]))
            except ValueError:
                continue
    return None


def numbers_in(value: Any) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [float(value)]
    if isinstance(value, dict):
        return [n for item in value.values() for n in numbers_in(item)]
    if isinstance(value, list):
        return [n for item in value for n in numbers_in(item)]
    return []


def report_skipped_peers(output: str) -> None:
    for line in output.splitlines():
        if "could not be installed" in line:
            warnings.warn(line.strip(), UserWarning, stacklevel=2)


def test_benchmarks_are_found_by_glob() -> None:
    names = {path.name for path in BENCHMARKS}
    assert {"bench_kernel.py", "bench_tokens.py", "compare.py"} <= names


def test_run_all_runs_every_benchmark_found() -> None:
    plan = (BENCH / "run_all.py").read_text(encoding="utf-8")
    missing = [
        bench_id(path) for path in BENCHMARKS if f'"benchmarks/{bench_id(path)}.py"' not in plan
    ]
    assert missing == [], f"run_all.py does not run {missing}"


@pytest.mark.parametrize(
    "script",
    [pytest.param(path, marks=pytest.mark.timeout(timeout_for(path) + 60)) for path in BENCHMARKS],
    ids=bench_id,
)
def test_benchmark_quick_mode_exits_0_and_prints_its_figures(script: Path) -> None:
    code, output = run_quick(script, timeout=timeout_for(script))
    tail = output[-4000:]
    assert code == 0, f"{script.name} --quick exited {code}:\n{tail}"
    assert re.search(r"^quick mode:", output, re.MULTILINE), f"not in quick mode:\n{tail}"
    assert FIGURE.search(output), f"{script.name} printed no number with a unit:\n{tail}"
    result = last_json(output)
    assert isinstance(result, dict), f"{script.name} ended with no JSON object:\n{tail}"
    assert numbers_in(result), f"{script.name}'s JSON holds no number:\n{tail}"
    report_skipped_peers(output)


@pytest.mark.timeout(RUN_TIMEOUT_S + 60)
def test_run_all_quick_runs_the_benchmarks_it_is_given_and_prints_the_goals(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The benchmarks themselves are run above; here run_all's own work: running what it
    # is given, gathering their numbers, and the summary.
    monkeypatch.syspath_prepend(str(BENCH))
    import run_all

    skip = [name for name in run_all.BENCHMARKS if name not in {"search", "bindings"}]
    code, output = run_quick(BENCH / "run_all.py", "--skip", *skip, timeout=RUN_TIMEOUT_S)
    tail = output[-4000:]
    assert code == 0, f"run_all.py --quick exited {code}:\n{tail}"
    assert "search_tools: worst query p50, ms" in output, tail
    summary = last_json(output)
    assert summary["bench"] == "all", tail
    assert summary["errors"] == {}, tail
    assert set(summary["results"]) == {"search", "bindings"}, tail
    assert numbers_in(summary["results"]["bindings"]), tail
