"""A cell is transformed once, not twice (ipykernel's check, then IPython's run).

The second call takes the first answer only for the same cell, between the two calls;
user code never gets a remembered answer, and magics, shell commands and transformers a
person adds behave as in IPython.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kernel_driver import KernelDriver
from tk_support import start_kernel
from toolkernel.kernel._transform import OneTransformPerCell

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KernelDriver]:
    driver = start_kernel(tmp_path_factory.mktemp("transform"), None)
    yield driver
    driver.shutdown()


def test_each_cell_is_transformed_once(kernel: KernelDriver) -> None:
    kernel.execute(
        "seen = []\n"
        "def counting(lines):\n"
        "    seen.append(''.join(lines))\n"
        "    return lines\n"
        "get_ipython().input_transformer_manager.cleanup_transforms.append(counting)"
    )
    kernel.execute("a = 1")
    kernel.execute("import asyncio\nawait asyncio.sleep(0)")
    asked = "import json as _j; print(_j.dumps(seen))"  # what `value` runs
    cells = ["a = 1", "import asyncio\nawait asyncio.sleep(0)", asked]
    assert kernel.value("seen") == [cell + "\n" for cell in cells]


def test_magics_and_shell_commands_still_work(kernel: KernelDriver) -> None:
    assert kernel.execute("%time y = 2").error is None
    assert kernel.execute("!echo from-the-shell").stdout.strip() == "from-the-shell"
    assert kernel.value("y") == 2


def test_user_code_gets_a_fresh_transformation(kernel: KernelDriver) -> None:
    # Inside a cell, transforming its own text (In[-1], the same string) after adding a
    # transformer shows the transformer's work: nothing remembered leaks into user code.
    code = (
        "ip = get_ipython()\n"
        "ip.input_transformers_post.append(lambda lines: [x.replace('AAA', 'B') for x in lines])\n"
        "print(ip.transform_cell(In[-1]).count('B') > 0)\n"
        "ip.input_transformers_post.pop()"
    )
    out = kernel._collect(kernel.client.execute(code, store_history=True), 60)  # In[-1]
    assert out.error is None, out.traceback
    assert out.stdout.strip() == "True"


def test_a_remembered_answer_is_given_once_for_the_same_string_only() -> None:
    calls: list[str] = []

    def transform(cell: str) -> str:
        calls.append(cell)
        return cell.upper()

    once = OneTransformPerCell(transform)
    cell = "x = 1"
    assert once(cell) == "X = 1"  # not armed: not remembered
    once.armed = True
    assert once(cell) == "X = 1"
    assert once(cell) == "X = 1"  # remembered, once
    assert once(cell) == "X = 1"
    assert len(calls) == 3
    once.armed = True
    once("y")
    once.forget()
    once("y")
    assert calls[-2:] == ["y", "y"]
