"""A Toolkernel kernel started without subshells (`--ToolKernelApp.subshells=False`).

The bridge starts its kernels this way: the main thread reads the shell channel itself,
and the typed channel is served on the control channel. The kernel must still run every
kind of cell, stop an awaiting cell on interrupt, answer the channel while a cell blocks
its main thread, refuse other comms on control, and say why a subshell cannot be made.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kernel_driver import KernelDriver
from tk_support import python_server, start_kernel

pytestmark = pytest.mark.timeout(240)

BOUND_S = 60.0


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KernelDriver]:
    base = tmp_path_factory.mktemp("nosub")
    driver = start_kernel(
        base,
        {"echo": python_server("echo_server.py")},
        extra_arguments=["--ToolKernelApp.subshells=False"],
    )
    yield driver
    driver.shutdown()


def send_control(driver: KernelDriver, msg_type: str, content: dict[str, Any]) -> None:
    driver.client.control_channel.send(driver.client.session.msg(msg_type, content))


def comm_data(driver: KernelDriver, comm_id: str) -> dict[str, Any]:
    """The next comm_msg data the kernel publishes on `comm_id`."""
    deadline = time.monotonic() + BOUND_S
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            msg = f"no comm_msg on {comm_id} within {BOUND_S} s"
            raise TimeoutError(msg)
        try:
            msg = driver.client.get_iopub_msg(timeout=remaining)
        except queue.Empty:
            continue
        content = msg["content"]
        if msg["msg_type"] == "comm_msg" and content.get("comm_id") == comm_id:
            return dict(content["data"])


def wait_until_started(driver: KernelDriver, msg_id: str) -> None:
    """Wait for the cell's first output line: it has started and runs its next line."""
    deadline = time.monotonic() + BOUND_S
    while True:
        msg = driver.client.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
            return


def test_the_kernel_offers_no_subshells_and_says_where_the_channel_is(
    kernel: KernelDriver,
) -> None:
    info = kernel.reply_to(kernel.client.kernel_info(), BOUND_S)["content"]
    assert "kernel subshells" not in info["supported_features"]
    assert info["toolkernel"] == {"channel_on_control": True}
    reply = kernel.control_reply("create_subshell_request", {}, BOUND_S)["content"]
    assert reply["status"] == "error"
    assert "without subshells" in reply["evalue"]
    assert "--ToolKernelApp.subshells=False" in reply["evalue"]


def test_plain_async_and_tool_cells_run(kernel: KernelDriver) -> None:
    assert kernel.execute("print('plain')").stdout == "plain\n"
    awaited = kernel.execute("import asyncio\nawait asyncio.sleep(0)\nprint('awaited')")
    assert awaited.stdout == "awaited\n"
    assert kernel.value("await tools.echo.add(a=2, b=3)") == 5


def test_an_interrupt_stops_an_awaiting_cell_and_the_kernel_lives_on(
    kernel: KernelDriver,
) -> None:
    msg_id = kernel.client.execute(
        "import asyncio\nprint('started', flush=True)\nawait asyncio.sleep(120)",
        stop_on_error=False,
    )
    wait_until_started(kernel, msg_id)
    kernel.manager.interrupt_kernel()
    reply = kernel.reply_to(msg_id, BOUND_S)["content"]
    assert reply["status"] == "error"
    assert reply["ename"] in ("KeyboardInterrupt", "CancelledError")
    assert kernel.execute("print('alive')").stdout == "alive\n"


def test_the_channel_answers_on_control_while_a_cell_blocks_the_main_thread(
    kernel: KernelDriver, tmp_path: Path
) -> None:
    fifo = tmp_path / "gate"
    os.mkfifo(fifo)
    comm_id = uuid.uuid4().hex
    content = {"comm_id": comm_id, "target_name": "toolkernel.rpc", "data": {}}
    send_control(kernel, "comm_open", content)
    cell = kernel.client.execute(
        f"print('reading', flush=True)\nopen({str(fifo)!r}).read()", store_history=False
    )
    wait_until_started(kernel, cell)
    opened = threading.Event()

    def release() -> None:  # opening a FIFO to write waits until the cell reads it
        with fifo.open("w") as gate:
            opened.set()
            gate.write("go")

    request = {"jsonrpc": "2.0", "id": 1, "method": "tools/names", "params": {}}
    send_control(kernel, "comm_msg", {"comm_id": comm_id, "data": request})
    answer = comm_data(kernel, comm_id)
    cell_was_running = not opened.is_set()
    releaser = threading.Thread(target=release, daemon=True)
    releaser.start()
    assert kernel.reply_to(cell, BOUND_S)["content"]["status"] == "ok"
    releaser.join(BOUND_S)
    assert answer["id"] == 1
    assert "echo.add" in answer["result"]
    assert cell_was_running


def test_other_comms_are_refused_on_control(kernel: KernelDriver) -> None:
    # A comm target of the agent's own: opened on control, its code must not run there.
    kernel.execute(
        "opened_on = []\n"
        "get_ipython().kernel.comm_manager.register_target(\n"
        "    'mine', lambda comm, msg: opened_on.append(msg['content']['comm_id']))"
    )
    on_control, on_shell = uuid.uuid4().hex, uuid.uuid4().hex
    send_control(kernel, "comm_open", {"comm_id": on_control, "target_name": "mine", "data": {}})
    kernel.client.shell_channel.send(
        kernel.client.session.msg(
            "comm_open", {"comm_id": on_shell, "target_name": "mine", "data": {}}
        )
    )
    # Control messages are handled in order: once this answers, the open was handled.
    kernel.control_reply("kernel_info_request", {}, BOUND_S)
    assert kernel.value("opened_on") == [on_shell]
    comms = kernel.reply_to(kernel.client.comm_info(target_name="mine"), BOUND_S)
    assert set(comms["content"]["comms"]) == {on_shell}
    # A shell comm gets no messages through control either.
    kernel.execute(
        "got = []\n"
        f"get_ipython().kernel.comm_manager.comms[{on_shell!r}].on_msg("
        "lambda msg: got.append(msg['content']['data']))"
    )
    send_control(kernel, "comm_msg", {"comm_id": on_shell, "data": {"via": "control"}})
    kernel.control_reply("kernel_info_request", {}, BOUND_S)
    kernel.client.shell_channel.send(
        kernel.client.session.msg("comm_msg", {"comm_id": on_shell, "data": {"via": "shell"}})
    )
    assert json.loads(json.dumps(kernel.value("got"))) == [{"via": "shell"}]
