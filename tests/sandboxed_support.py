"""The `toolkernel-sandboxed` kernelspec and its provisioner, set up for a test run, and a
cell runner for the kernels started from it."""

from __future__ import annotations

import queue
import time
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.blocking.client import BlockingKernelClient

from toolkernel.kernelspec import SANDBOXED_KERNEL_NAME, install_kernel_spec
from toolkernel.sandboxed import PROVISIONER_NAME

GROUP = "jupyter_client.kernel_provisioners"


def provisioner_site(base: Path) -> Path | None:
    """None once the provisioner's entry point is installed (what the callers add to
    `sys.path` otherwise); a missing one is an install step to run, not to paper over.
    """
    if entry_points(group=GROUP, name=PROVISIONER_NAME):
        return None
    msg = (
        f"the {PROVISIONER_NAME!r} kernel provisioner is not installed in this environment: "
        f"run `bash .ci/setup` (it reinstalls toolkernel with its entry points); {base} unused"
    )
    raise RuntimeError(msg)


def sandboxed_spec(prefix: Path) -> Path:
    """Install the sandboxed kernelspec under `prefix`; return the folder for JUPYTER_PATH."""
    install_kernel_spec(prefix=str(prefix), name=SANDBOXED_KERNEL_NAME, sandboxed=True)
    return prefix / "share" / "jupyter"


def registered_spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`sandboxed_spec` in a fresh temp prefix, once the provisioner is found installed
    (`provisioner_site`); the folder for JUPYTER_PATH."""
    assert provisioner_site(tmp_path_factory.mktemp("site")) is None
    return sandboxed_spec(tmp_path_factory.mktemp("prefix"))


def run_cell(
    client: BlockingKernelClient, code: str, timeout: float = 60.0, *, stop_on_error: bool = True
) -> tuple[str, dict[str, Any] | None]:
    """Run `code` on `client`'s kernel; its stdout and its error content (None if it
    succeeded), once the kernel is idle again. Raises TimeoutError after `timeout` s.

    With `stop_on_error=False`, a failure does not make ipykernel abort the next cell.
    """
    msg_id = client.execute(code, store_history=False, stop_on_error=stop_on_error)
    out, error = "", None
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            msg = f"no idle from the kernel within {timeout} s"
            raise TimeoutError(msg)
        try:
            msg = client.get_iopub_msg(timeout=remaining)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream" and content["name"] == "stdout":
            out += content["text"]
        elif kind == "error":
            error = content
        elif kind == "status" and content["execution_state"] == "idle":
            return out, error
