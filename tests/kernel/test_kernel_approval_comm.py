"""Approval requests over the `toolkernel.approval` comm, as JupyterLab's dialog answers them.

A jupyter_client plays the labextension: it opens the comm on a kernel subshell (as
JupyterLab does), and answers each `request` with `shown` and an `answer`, while the cell
that made the call waits on the main shell. Without the comm, the input prompt asks.
"""

from __future__ import annotations

import queue
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from kernel_driver import Execution, KernelDriver
from tk_support import python_server, start_kernel

pytestmark = pytest.mark.timeout(300)

TARGET = "toolkernel.approval"
HOSTILE = "<img src=x onerror=alert(1)>"


@dataclass
class Seen:
    """What one cell produced, plus the approval comm messages that reached the 'lab'."""

    out: Execution
    requests: list[dict[str, Any]] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)


class LabComm:
    """The labextension's side of the approval comm, played through jupyter_client."""

    def __init__(self, driver: KernelDriver) -> None:
        self.driver = driver
        self.client = driver.client
        self.subshell = self._create_subshell()
        self.comm_id = uuid.uuid4().hex
        self._send("comm_open", {"comm_id": self.comm_id, "target_name": TARGET, "data": {}})
        assert self.comm_id in self._open_comms(), "the kernel did not keep the approval comm"

    def reply(self, data: dict[str, Any]) -> None:
        self._send("comm_msg", {"comm_id": self.comm_id, "data": data})

    def close(self) -> None:
        self._send("comm_close", {"comm_id": self.comm_id, "data": {}})
        assert self.comm_id not in self._open_comms()

    def run(
        self,
        code: str,
        on_request: Callable[[dict[str, Any]], None],
        *,
        answers: list[str] | None = None,
        timeout: float = 60.0,
    ) -> Seen:
        """Run `code`; hand each approval request to `on_request`; answer input prompts."""
        msg_id = self.client.execute(code, store_history=False, allow_stdin=True)
        seen = Seen(Execution())
        pending = list(answers or [])
        deadline = time.monotonic() + timeout
        idle = False
        while not idle:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                msg = f"no idle from the kernel within {timeout} s"
                raise TimeoutError(msg)
            self._answer_stdin(seen, pending)
            try:
                msg = self.client.get_iopub_msg(timeout=min(remaining, 0.05))
            except queue.Empty:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "comm_msg" and content.get("comm_id") == self.comm_id:
                data = content["data"]
                if data["type"] == "request":
                    seen.requests.append(data)
                    on_request(data)
                elif data["type"] == "done":
                    seen.done.append(data["id"])
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if kind == "stream" and content["name"] == "stdout":
                seen.out.stdout += content["text"]
            elif kind == "execute_result":
                seen.out.result = content["data"]
            elif kind == "error":
                seen.out.error = content
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True
        self.driver.reply_to(msg_id, max(1.0, deadline - time.monotonic()))
        return seen

    def _answer_stdin(self, seen: Seen, pending: list[str]) -> None:
        try:
            request = self.client.get_stdin_msg(timeout=0)
        except queue.Empty:
            return
        seen.prompts.append(request["content"]["prompt"])
        self.client.input(pending.pop(0) if pending else "")

    def _send(self, msg_type: str, content: dict[str, Any]) -> str:
        msg = self.client.session.msg(msg_type, content)
        msg["header"]["subshell_id"] = self.subshell
        self.client.shell_channel.send(msg)
        return str(msg["header"]["msg_id"])

    def _open_comms(self) -> set[str]:
        """The kernel's open approval comms, asked on the same subshell (after the open)."""
        msg_id = self._send("comm_info_request", {"target_name": TARGET})
        return set(self.driver.reply_to(msg_id, 30)["content"]["comms"])

    def _create_subshell(self) -> str:
        reply = self.driver.control_reply("create_subshell_request", {}, 30)
        return str(reply["content"]["subshell_id"])


def answering(lab: LabComm, answer: str) -> Callable[[dict[str, Any]], None]:
    """A dialog that shows at once and is answered `answer`."""

    def on_request(request: dict[str, Any]) -> None:
        lab.reply({"type": "shown", "id": request["id"]})
        lab.reply({"type": "answer", "id": request["id"], "answer": answer})

    return on_request


def _start(tmp: Any, timeout_s: float) -> KernelDriver:
    driver: KernelDriver = start_kernel(
        tmp,
        {"guarded": python_server("guarded_server.py")},
        extra_arguments=[
            "--ToolPolicy.approve=guarded.rename_note",
            "--ToolPolicy.approve_destructive=True",
            f"--ToolPolicy.approval_timeout={timeout_s}",
        ],
    )
    driver.execute("await wait_for_servers(30)")
    return driver


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KernelDriver]:
    driver = _start(tmp_path_factory.mktemp("approval"), 60)
    yield driver
    driver.shutdown()


@pytest.fixture
def lab(kernel: KernelDriver) -> Iterator[LabComm]:
    comm = LabComm(kernel)
    yield comm
    comm.close()


def test_the_dialog_allows_a_call_and_gets_the_tool_server_and_arguments_as_text(
    kernel: KernelDriver, lab: LabComm
) -> None:
    seen = lab.run(f"await tools.guarded.delete_note(name={HOSTILE!r})", answering(lab, "allow"))
    assert seen.out.error is None, seen.out.error
    assert seen.out.result is not None
    assert seen.out.result["text/plain"] == repr(f"deleted {HOSTILE}")
    assert seen.prompts == []  # the dialog asked, not an input prompt
    [request] = seen.requests
    assert request["tool"] == "guarded.delete_note"
    assert request["server"] == "guarded"
    assert "destructiveHint" in request["reason"]
    assert HOSTILE in request["arguments"]
    assert request["timeout_s"] == 60
    assert seen.done == [request["id"]]  # every open dialog is told to close
    assert kernel.value("call_history(1)[0]['approval']") == "allowed:person"


def test_the_dialog_denies_a_call_and_the_cell_raises_tool_denied_by_the_person(
    kernel: KernelDriver, lab: LabComm
) -> None:
    seen = lab.run("await tools.guarded.delete_note(name='kept')", answering(lab, "deny"))
    assert seen.out.error is not None
    assert seen.out.error["ename"] == "ToolDenied"
    assert "the person denied it" in seen.out.error["evalue"]
    assert kernel.value("call_history(1)[0]['approval']") == "denied:person"
    assert "kept" not in kernel.value("await tools.guarded.deleted()")


def test_allow_for_this_session_asks_once_for_that_tool(lab: LabComm) -> None:
    first = lab.run(
        "await tools.guarded.rename_note(name='a', new_name='b')", answering(lab, "session")
    )
    assert first.out.error is None, first.out.error
    again = lab.run(
        "await tools.guarded.rename_note(name='b', new_name='c')", answering(lab, "deny")
    )
    assert again.out.error is None, again.out.error
    assert len(first.requests) == 1
    assert again.requests == []


def test_without_a_lab_comm_the_input_prompt_asks_at_once(kernel: KernelDriver) -> None:
    out = kernel.execute("await tools.guarded.delete_note(name='typed')", answers=["allow"])
    assert out.text == repr("deleted typed")
    assert len(kernel.prompts) == 1
    assert "deny" in kernel.prompts[0]


def test_a_comm_whose_dialog_never_shows_falls_back_to_the_prompt_and_is_told_done(
    lab: LabComm,
) -> None:
    seen = lab.run(
        "await tools.guarded.delete_note(name='stale')", lambda _request: None, answers=["deny"]
    )
    assert seen.out.error is not None
    assert seen.out.error["ename"] == "ToolDenied"
    assert len(seen.prompts) == 1
    [request] = seen.requests
    assert seen.done == [request["id"]]


def test_an_unanswered_dialog_times_out_as_a_denial_and_is_closed(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    driver = _start(tmp_path_factory.mktemp("approval-timeout"), 2)
    try:
        lab = LabComm(driver)

        def shown_only(request: dict[str, Any]) -> None:
            lab.reply({"type": "shown", "id": request["id"]})

        seen = lab.run("await tools.guarded.delete_note(name='late')", shown_only)
        assert seen.out.error is not None
        assert seen.out.error["ename"] == "ToolDenied"
        assert "nobody answered its approval request within 2 s" in seen.out.error["evalue"]
        [request] = seen.requests
        assert seen.done == [request["id"]]
        # A late answer changes nothing: the call stays denied and never ran.
        lab.reply({"type": "answer", "id": request["id"], "answer": "allow"})
        assert "late" not in driver.value("await tools.guarded.deleted()")
    finally:
        driver.shutdown()
