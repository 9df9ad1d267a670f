"""The tool policy in a real kernel: a person at the notebook answers approval prompts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tk_support import python_server, start_kernel

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    driver = start_kernel(
        tmp_path_factory.mktemp("policy"),
        {"echo": python_server("echo_server.py"), "guarded": python_server("guarded_server.py")},
        extra_arguments=[
            "--ToolPolicy.approve_destructive=True",
            "--ToolPolicy.max_calls_per_execution=2",
        ],
    )
    driver.execute("await wait_for_servers(30)")
    yield driver
    driver.shutdown()


def test_the_person_allows_one_call_at_the_prompt_and_denies_the_next(kernel: Any) -> None:
    allowed = kernel.execute("await tools.guarded.delete_note(name='a')", answers=["allow"])
    assert allowed.text == repr("deleted a")
    assert "Allow the tool guarded.delete_note to run?" in allowed.stdout
    assert "session" in kernel.prompts[0]
    denied = kernel.execute(
        "await tools.guarded.delete_note(name='b')", answers=["deny"], allow_error=True
    )
    assert denied.error is not None
    assert denied.error["ename"] == "ToolDenied"
    assert "the person denied it" in denied.error["evalue"]
    assert kernel.value("await tools.guarded.deleted()") == ["a"]
    history = kernel.value("[c['approval'] for c in call_history(3)]")
    assert history == [None, "denied:person", "allowed:person"]


def test_a_frontend_that_takes_no_input_denies_saying_how_to_allow(kernel: Any) -> None:
    out = kernel.execute("await tools.guarded.delete_note(name='c')", allow_error=True)
    assert out.error is not None
    assert out.error["ename"] == "ToolDenied"
    assert "c.ToolPolicy.approve_destructive" in out.error["evalue"]


def test_the_hosts_budget_caps_each_cell_and_the_next_starts_afresh(kernel: Any) -> None:
    out = kernel.execute(
        "done = []\nfor i in range(3):\n    done.append(await tools.echo.add(a=i, b=0))",
        allow_error=True,
    )
    assert out.error is not None
    assert out.error["ename"] == "ToolCallLimit"
    assert "c.ToolPolicy.max_calls_per_execution=2" in out.error["evalue"]
    assert kernel.value("len(done)") == 2
    assert kernel.value("[await tools.echo.add(a=i, b=1) for i in range(2)]") == [1, 2]
