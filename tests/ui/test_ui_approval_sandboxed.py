"""Approvals for the sandboxed kernel in a real JupyterLab: its own tool host asks, a dialog
answers.

A notebook on the `toolkernel-sandboxed` kernelspec (bubblewrap) calls a tool its host's
policy (`TOOLKERNEL_SANDBOX_POLICY`) makes ask first. The host's approval request crosses
the socket to the kernel, which routes it to JupyterLab's dialog by its `_meta` marker;
the person's answer decides the call, a denial names the person, and the Tools panel's
Calls section shows the rows the host wrote to its audit log. This tree's labextension
build is served (`THIS_BUILD`).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from lab_support import THIS_BUILD, Lab, open_panel, running_lab, shot
from test_ui_approval import COMM_OPEN, DIALOG, OUTPUT, call

from sandboxed_support import provisioner_site
from tk_support import python_server
from toolkernel.kernelspec import SANDBOXED_DISPLAY_NAME, SANDBOXED_KERNEL_NAME

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bwrap"),
]
KERNEL_WAIT_MS = 90_000
IDLE = f"text={SANDBOXED_DISPLAY_NAME} | Idle"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    if not (THIS_BUILD / "package.json").exists():
        pytest.fail(f"{THIS_BUILD} is missing: run `npm run build` in labextension/")
    base = tmp_path_factory.mktemp("sandboxed-approval-lab")
    assert provisioner_site(base / "site") is None
    policy = base / "policy.json"
    policy.write_text(json.dumps({"approve": ["guarded.delete_note"], "approval_timeout": 120}))
    with running_lab(
        base,
        servers={"guarded": python_server("guarded_server.py")},
        labextension=THIS_BUILD,
        kernel_name=SANDBOXED_KERNEL_NAME,
        extra_env={"TOOLKERNEL_SANDBOX_POLICY": str(policy), "TOOLKERNEL_SANDBOX_BACKEND": "bwrap"},
    ) as running:
        yield running


@pytest.fixture(scope="module")
def page(lab: Lab, browser: Any) -> Iterator[Any]:
    page = open_panel(browser, lab, "lab/tree/tools-demo.ipynb")
    try:
        page.wait_for_selector(".jp-Notebook")
        page.wait_for_selector(IDLE, timeout=KERNEL_WAIT_MS)
        page.wait_for_function(COMM_OPEN, polling=250, timeout=KERNEL_WAIT_MS)
        yield page
    finally:
        page.close()


def run_cell(page: Any, code: str) -> None:
    """Put `code` into the first cell and run it, once the kernel is idle."""
    page.wait_for_selector(IDLE, timeout=KERNEL_WAIT_MS)
    page.evaluate(
        "code => { const nb = window.jupyterapp.shell.currentWidget.content;"
        " nb.activeCellIndex = 0; nb.activeCell.model.sharedModel.setSource(code); }",
        code,
    )
    page.click(".jp-Cell .jp-InputArea-editor")
    page.keyboard.press("Control+Enter")


def test_the_notebook_runs_in_the_sandbox_with_the_hosts_tools(page: Any) -> None:
    code = "import os\nprint(os.environ['TOOLKERNEL_SANDBOXED'], type(tools.guarded).__name__)"
    run_cell(page, "await wait_for_servers(30)\n" + code)
    page.wait_for_selector(f"{OUTPUT}:has-text('1 ')", timeout=KERNEL_WAIT_MS)
    assert page.inner_text(OUTPUT).startswith("1 ")


def test_allow_in_the_dialog_runs_the_call_in_the_host(page: Any) -> None:
    run_cell(page, call("a"))
    dialog = page.wait_for_selector(DIALOG, timeout=KERNEL_WAIT_MS)
    assert dialog.get_attribute("data-tool") == "guarded.delete_note"
    assert page.inner_text(f"{DIALOG} [data-field='server']") == "guarded"
    assert '"name": "a"' in page.inner_text(f"{DIALOG} [data-field='arguments']")
    shot(page, "approval-dialog-sandboxed")
    page.click(f"{DIALOG} button:has-text('Allow once')")
    page.wait_for_selector(DIALOG, state="detached")
    page.wait_for_selector(f"{OUTPUT}:has-text('deleted a')", timeout=KERNEL_WAIT_MS)
    assert page.locator(".jp-Notebook .jp-Stdin").count() == 0  # no input prompt asked


def test_deny_in_the_dialog_raises_tool_denied_naming_the_person(page: Any) -> None:
    run_cell(page, call("kept"))
    page.wait_for_selector(DIALOG, timeout=KERNEL_WAIT_MS)
    page.click(f"{DIALOG} button:has-text('Deny')")
    page.wait_for_selector(DIALOG, state="detached")
    page.wait_for_selector(f"{OUTPUT}:has-text('ToolDenied')", timeout=KERNEL_WAIT_MS)
    assert "the person denied it" in page.inner_text(OUTPUT)
    assert "the client" not in page.inner_text(OUTPUT)


def test_the_calls_section_shows_the_hosts_audit_rows(page: Any) -> None:
    rows = ".jp-toolkernel-call[data-tool='guarded.delete_note']"
    page.wait_for_function(
        f'() => document.querySelectorAll("{rows}").length >= 2', timeout=KERNEL_WAIT_MS
    )
    approvals = page.eval_on_selector_all(rows, "rows => rows.map(r => r.dataset.approval)")
    outcomes = page.eval_on_selector_all(rows, "rows => rows.map(r => r.dataset.outcome)")
    assert approvals[:2] == ["denied:person", "allowed:person"]
    assert outcomes[:2] == ["refused", "ok"]
    page.locator(".jp-toolkernel-calls").scroll_into_view_if_needed()
    shot(page, "approval-calls-sandboxed")
