"""Deleting and restoring tools in a real kernel: bindings, search and history follow."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tk_support import TESTS, python_server, start_kernel

pytestmark = pytest.mark.timeout(300)

ANSWER = (TESTS / "wasm_sources" / "answer.wat").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    base = tmp_path_factory.mktemp("delete-kernel")
    driver = start_kernel(base, {"echo": python_server("echo_server.py")})
    driver.execute("await wait_for_servers(30)")
    yield driver
    driver.shutdown()


def answer_wat(number: int) -> str:
    return ANSWER.replace("42", str(number))


def make(kernel: Any, name: str, number: int, description: str = "") -> None:
    out = kernel.execute(
        f"create_tool({name!r}, language='wat', source={answer_wat(number)!r}, "
        f"description={description!r})",
        timeout=120,
    )
    assert out.error is None, out.traceback


def test_a_deleted_tool_leaves_bindings_and_search_at_once_and_comes_back(kernel: Any) -> None:
    make(kernel, "doomed", 77, "Answer with the lucky seven.")
    assert kernel.value("await tools.local.doomed()") == {"answer": 77}

    assert kernel.value("delete_tool('doomed').version") == 2
    assert "local.doomed" not in kernel.value("list(list_tool_names('local'))")
    assert "doomed" not in kernel.value("dir(tools.local)")
    assert kernel.value("search_tools('lucky seven', detail='name')") == []
    gone = kernel.execute("await tools.local.doomed()", allow_error=True)
    assert gone.error is not None

    shown = kernel.execute("%tools versions local.doomed").stdout
    assert "v2" in shown.splitlines()[1]
    assert "[deleted]" in shown.splitlines()[1]
    assert "restore_tool('local.doomed') brings it back" in shown

    assert kernel.value("restore_tool('doomed').version") == 3
    assert kernel.value("await tools.local.doomed()") == {"answer": 77}
    assert kernel.value("search_tools('lucky seven', detail='name')") == ["local.doomed"]


def test_a_deleted_name_can_be_created_again(kernel: Any) -> None:
    make(kernel, "reborn", 31)
    kernel.execute("delete_tool('reborn')")
    make(kernel, "reborn", 32)
    assert kernel.value("await tools.local.reborn()") == {"answer": 32}
    assert kernel.value("[v.deleted for v in tool_versions('reborn')]") == [False, True, False]


@pytest.mark.parametrize(
    ("call", "error", "said"),
    [
        ("delete_tool('echo.add')", "RegistryError", "it is a tool of the MCP server 'echo'"),
        ("delete_tool('echo.get-weather')", "RegistryError", "the MCP server 'echo'"),
        ("delete_tool('local.never_made')", "ToolNotFound", "no registry tool 'local.never_made'"),
        ("restore_tool('local.never_made')", "ToolNotFound", "no registry tool"),
    ],
)
def test_refused_deletes_say_why_and_change_nothing(
    kernel: Any, call: str, error: str, said: str
) -> None:
    out = kernel.execute(call, allow_error=True)
    assert out.error is not None
    assert out.error["ename"] == error
    assert said in out.error["evalue"]
    assert kernel.value("await tools.echo.add(a=1, b=2)") == 3


def test_a_delete_from_the_cli_reaches_the_live_kernel(kernel: Any) -> None:
    make(kernel, "remote_gone", 55)
    home = kernel.value("str(__import__('toolkernel').config.toolkernel_home())")
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "toolkernel"),
            "--home",
            home,
            "tools",
            "delete",
            "local.remote_gone",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # The kernel notices another process's commit within its poll interval; each check
    # is a full kernel round trip, bounded by the deadline.
    deadline = time.monotonic() + 5
    while "local.remote_gone" in kernel.value("list(list_tool_names('local'))"):
        assert time.monotonic() < deadline, "the kernel did not follow the delete in 5 s"
