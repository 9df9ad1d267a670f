"""The per-execution cap on tool calls and the call history, in real kernels with echo."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tk_support import python_server, start_kernel

pytestmark = pytest.mark.timeout(300)

CAP = 3


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    driver = start_kernel(
        tmp_path_factory.mktemp("capped"),
        {"echo": python_server("echo_server.py")},
        extra_arguments=[f"--Toolbox.max_tool_calls={CAP}"],
    )
    driver.execute("await wait_for_servers(30)")
    yield driver
    driver.shutdown()


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    driver = start_kernel(
        tmp_path_factory.mktemp("history"), {"echo": python_server("echo_server.py")}
    )
    driver.execute("await wait_for_servers(30)")
    yield driver
    driver.shutdown()


def test_a_cell_may_make_as_many_calls_as_the_cap(capped: Any) -> None:
    cell = f"[await tools.echo.add(a=i, b=1) for i in range({CAP})]"
    assert capped.value(cell) == [i + 1 for i in range(CAP)]


def test_one_call_over_the_cap_raises_naming_the_cap_and_how_to_change_it(capped: Any) -> None:
    out = capped.execute(
        f"done = []\nfor i in range({CAP + 2}):\n    done.append(await tools.echo.echo(text='x'))",
        allow_error=True,
    )
    assert out.error is not None
    assert out.error["ename"] == "ToolCallLimit"
    message = out.error["evalue"]
    assert f"already made {CAP} tool calls" in message
    assert f"max_tool_calls={CAP}" in message
    assert "c.Toolbox.max_tool_calls" in message
    assert "--max-tool-calls" in message
    assert capped.value("len(done)") == CAP


def test_the_next_cell_starts_with_a_fresh_budget(capped: Any) -> None:
    capped.execute(
        f"for i in range({CAP + 1}):\n    await tools.echo.echo(text='x')", allow_error=True
    )
    assert capped.value("await tools.echo.echo(text='again')") == "again"


def test_calls_from_tasks_the_cell_starts_count_against_its_cap(capped: Any) -> None:
    out = capped.execute(
        "import asyncio\n"
        f"results = await asyncio.gather(*(tools.echo.echo(text=str(i)) for i in range({CAP + 1})),"
        " return_exceptions=True)\n"
        "print(sorted(type(r).__name__ for r in results))"
    )
    assert out.stdout.strip() == str(sorted(["str"] * CAP + ["ToolCallLimit"]))


def test_a_refused_call_is_in_the_history_as_refused(capped: Any) -> None:
    capped.execute(
        f"for i in range({CAP + 1}):\n    await tools.echo.echo(text='y')", allow_error=True
    )
    newest = capped.value("call_history(1)")[0]
    assert newest["outcome"] == "refused"
    assert newest["tool"] == "echo.echo"


def test_there_is_no_cap_by_default(kernel: Any) -> None:
    calls = 40
    assert kernel.value(f"len([await tools.echo.echo(text='z') for _ in range({calls})])") == calls


def test_the_history_records_tool_size_outcome_and_cell(kernel: Any) -> None:
    kernel.execute("await tools.echo.add(a=2, b=3)")
    kernel.execute("await tools.echo.fail(message='no luck')", allow_error=True)
    out = kernel.execute("await tools.echo.add(a='two', b=3)", allow_error=True)
    assert out.error is not None
    newest = kernel.value("call_history(3)")
    failed, errored, ok = newest
    assert (ok["tool"], ok["outcome"], ok["error"]) == ("echo.add", "ok", None)
    assert ok["arguments_bytes"] == len('{"a":2,"b":3}')
    assert ok["duration_s"] >= 0
    assert (errored["tool"], errored["outcome"], errored["error"]) == (
        "echo.fail",
        "error",
        "no luck",
    )
    assert (failed["tool"], failed["outcome"]) == ("echo.add", "failed")
    assert failed["error"] == out.error["evalue"]


def test_the_history_records_the_calling_cells_execution_count(kernel: Any) -> None:
    count = kernel.value("[await tools.echo.add(a=1, b=1), get_ipython().execution_count][1]")
    assert kernel.value("call_history(1)[0]['execution_count']") == count


def test_the_history_filters_by_tool_and_is_newest_first(kernel: Any) -> None:
    kernel.execute("for i in range(3):\n    await tools.echo.add(a=i, b=0)")
    rows = kernel.value("call_history(2, tool='echo.add')")
    assert [row["tool"] for row in rows] == ["echo.add", "echo.add"]
    assert rows[0]["started_at"] >= rows[1]["started_at"]


def test_a_bad_limit_says_what_is_allowed(kernel: Any) -> None:
    out = kernel.execute("call_history(0)", allow_error=True)
    assert out.error is not None
    assert "limit must be an int from 1 to 10000, not 0" in out.error["evalue"]
