"""An execute reply says how many IOPub messages its request published (`PUBLISHED`).

The bridge ends a cell on its reply once it has seen that many, without waiting for the
`idle` status; so the count must be exact for every kind of cell: output on both
streams, displays, a value, an error, output from a thread, a comm message.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from typing import Any

import pytest

from kernel_driver import KernelDriver
from tk_support import start_kernel

pytestmark = pytest.mark.timeout(240)

BOUND_S = 60.0

CELLS = {
    "assignment": "x = 1",
    "streams": "import sys\nfor i in range(200):\n    print(i)\n    sys.stderr.write(f'e{i}')",
    "unflushed tail": "import sys\nsys.stdout.write('no newline')",
    "displays and a value": "from IPython.display import display\ndisplay('a')\ndisplay('b')\n3",
    "error": "print('before')\nraise ValueError('no')",
    "thread": (
        "import threading\n"
        "t = threading.Thread(target=lambda: [print('from a thread', i) for i in range(50)])\n"
        "t.start(); t.join()"
    ),
    "comm": (
        "from comm import create_comm\n"
        "c = create_comm(target_name='nobody', data={'n': 1})\n"
        "c.send({'n': 2}); c.close()"
    ),
}


@pytest.fixture(scope="module", params=["subshells", "no subshells"])
def kernel(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KernelDriver]:
    base = tmp_path_factory.mktemp("published")
    extra = [] if request.param == "subshells" else ["--ToolKernelApp.subshells=False"]
    driver = start_kernel(base, None, extra_arguments=extra)
    yield driver
    driver.shutdown()


def run_counting(driver: KernelDriver, code: str) -> tuple[dict[str, Any], list[str]]:
    """The reply to `code`, and the types of the iopub messages it published before idle."""
    msg_id = driver.client.execute(code, store_history=False, stop_on_error=False)
    kinds: list[str] = []
    deadline = time.monotonic() + BOUND_S
    while True:
        try:
            msg = driver.client.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
        kinds.append(msg["msg_type"])
    return driver.reply_to(msg_id, BOUND_S), kinds


@pytest.mark.parametrize("cell", list(CELLS))
def test_the_reply_counts_every_message_its_request_published(
    kernel: KernelDriver, cell: str
) -> None:
    reply, kinds = run_counting(kernel, CELLS[cell])
    assert reply["metadata"]["toolkernel"]["published"] == len(kinds), kinds
    assert kinds[:2] == ["status", "execute_input"]


def test_other_requests_carry_no_count(kernel: KernelDriver) -> None:
    reply = kernel.reply_to(kernel.client.kernel_info(), BOUND_S)
    assert "toolkernel" not in reply["metadata"]
