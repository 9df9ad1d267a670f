"""A cell's stdout and stderr reach the client whole and in order, before the cell is idle."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tk_support import start_kernel

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    driver = start_kernel(tmp_path_factory.mktemp("output"), None)
    yield driver
    driver.shutdown()


def test_every_line_written_arrives_before_the_cell_is_idle(kernel: Any) -> None:
    code = "import sys\nfor i in range(300):\n    print(i)\n    sys.stderr.write(f'e{i}\\n')"
    out = kernel.execute(code)
    assert out.stdout == "".join(f"{i}\n" for i in range(300))
    assert out.stderr == "".join(f"e{i}\n" for i in range(300))


def test_text_written_at_the_very_end_of_a_cell_is_not_lost(kernel: Any) -> None:
    for n in range(20):
        out = kernel.execute(f"print('last {n}', end='')")
        assert out.stdout == f"last {n}"


def test_a_threads_output_before_the_cell_ends_reaches_that_cell(kernel: Any) -> None:
    code = (
        "import threading\n"
        "t = threading.Thread(target=lambda: print('from a thread'))\n"
        "t.start(); t.join()"
    )
    assert kernel.execute(code).stdout == "from a thread\n"


def test_flushing_with_nothing_written_returns_and_later_output_still_arrives(
    kernel: Any,
) -> None:
    code = "import sys\nsys.stdout.flush(); sys.stderr.flush()\nprint('after')\nsys.stdout.flush()"
    out = kernel.execute(code)
    assert out.stdout == "after\n"
    assert out.stderr == ""


def test_output_printed_before_an_error_comes_before_the_traceback(kernel: Any) -> None:
    out = kernel.execute("print('before')\nraise ValueError('boom')", allow_error=True)
    assert out.stdout == "before\n"
    assert out.error is not None
    assert out.error["evalue"] == "boom"
