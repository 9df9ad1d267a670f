"""Approvals in a real JupyterLab: the tool policy asks through a dialog, not a prompt.

The kernels' config asks before `guarded.delete_note` (a real MCP server); a notebook
cell calls it, the dialog shows the tool, its server and its arguments as text, and the
answer (or none) decides the call. The Tools panel's Calls section then lists the calls.
This tree's labextension build is served (`THIS_BUILD`), not the environment's copy.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from lab_support import (
    CALL_ROWS,
    COMM_OPEN,
    DIALOG,
    KERNEL_WAIT_MS,
    OUTPUT,
    THIS_BUILD,
    Lab,
    call_rows,
    click_in_dialog,
    delete_note,
    deny_in_dialog,
    open_panel,
    running_lab,
    shot,
    start_cell,
    wait_for_approvals,
)

from tk_support import python_server

pytestmark = pytest.mark.timeout(300)
TIMEOUT_S = 8
HOSTILE = "<img src=x onerror=window.__tk_pwned=1>"
"""Markup that would run script if it were rendered (no quotes: JSON leaves it as is)."""
KERNEL_CONFIG = f"""
c.ToolPolicy.approve = ["guarded.delete_note"]
c.ToolPolicy.approval_timeout = {TIMEOUT_S}
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    if not (THIS_BUILD / "package.json").exists():
        pytest.fail(f"{THIS_BUILD} is missing: run `npm run build` in labextension/")
    with running_lab(
        tmp_path_factory.mktemp("approval-lab"),
        servers={"guarded": python_server("guarded_server.py")},
        kernel_config=KERNEL_CONFIG,
        labextension=THIS_BUILD,
    ) as running:
        yield running


@pytest.fixture(scope="module")
def page(lab: Lab, browser: Any) -> Iterator[Any]:
    page = open_panel(browser, lab, "lab/tree/tools-demo.ipynb")
    try:
        assert page.evaluate(
            "() => window.jupyterapp.hasPlugin('@toolkernel/labextension:approvals')"
        ), "the lab serves another build of the labextension"
        wait_for_approvals(page)
        yield page
    finally:
        page.close()


def test_allow_once_runs_the_call_and_the_hostile_argument_is_text(page: Any) -> None:
    start_cell(page, delete_note(HOSTILE))
    dialog = page.wait_for_selector(DIALOG, timeout=KERNEL_WAIT_MS)
    assert dialog.get_attribute("data-tool") == "guarded.delete_note"
    assert page.inner_text(f"{DIALOG} [data-field='tool']") == "guarded.delete_note"
    assert page.inner_text(f"{DIALOG} [data-field='server']") == "guarded"
    assert HOSTILE in page.inner_text(f"{DIALOG} [data-field='arguments']")
    assert page.locator(f"{DIALOG} img").count() == 0
    shot(page, "approval-dialog")
    click_in_dialog(page, "Allow once")
    page.wait_for_selector(f"{OUTPUT}:has-text('deleted <img')", timeout=KERNEL_WAIT_MS)
    assert page.locator(".jp-Notebook .jp-Stdin").count() == 0  # no input prompt asked
    assert page.evaluate("() => typeof window.__tk_pwned") == "undefined"


def test_deny_raises_tool_denied_in_the_cell(page: Any) -> None:
    start_cell(page, delete_note("kept"))
    assert "the person denied it" in deny_in_dialog(page)


def test_an_unanswered_dialog_closes_and_the_call_is_denied(page: Any) -> None:
    start_cell(page, delete_note("late"))
    page.wait_for_selector(DIALOG, timeout=KERNEL_WAIT_MS)
    page.wait_for_selector(DIALOG, state="detached", timeout=(TIMEOUT_S + 30) * 1000)
    page.wait_for_selector(f"{OUTPUT}:has-text('nobody answered')", timeout=KERNEL_WAIT_MS)
    assert "ToolDenied" in page.inner_text(OUTPUT)


def test_the_calls_section_lists_the_calls_and_their_approvals(page: Any) -> None:
    approvals, outcomes = call_rows(page, 3)
    assert approvals == ["denied:timeout", "denied:person", "allowed:person"]
    assert outcomes == ["refused", "refused", "ok"]
    texts = page.locator(CALL_ROWS).all_inner_texts()[:3]
    assert "denied: not answered in time" in texts[0]
    assert "denied by person" in texts[1]
    assert "allowed by person" in texts[2]
    page.locator(".jp-toolkernel-calls").scroll_into_view_if_needed()
    shot(page, "approval-calls")


def test_a_restart_closes_the_open_dialog_and_the_new_kernel_asks_again(page: Any) -> None:
    start_cell(page, delete_note("before restart"))
    page.wait_for_selector(DIALOG, timeout=KERNEL_WAIT_MS)
    page.evaluate(
        "() => void window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.restart()"
    )
    page.wait_for_selector(DIALOG, state="detached", timeout=KERNEL_WAIT_MS)
    page.wait_for_function(COMM_OPEN, polling=250, timeout=KERNEL_WAIT_MS)
    start_cell(page, "await wait_for_servers(30)\n" + delete_note("after restart"))
    page.wait_for_selector(DIALOG, timeout=KERNEL_WAIT_MS)
    page.click(f"{DIALOG} button:has-text('Allow for this session')")
    page.wait_for_selector(f"{OUTPUT}:has-text('deleted after restart')", timeout=KERNEL_WAIT_MS)
    start_cell(page, delete_note("remembered"))
    page.wait_for_selector(f"{OUTPUT}:has-text('deleted remembered')", timeout=KERNEL_WAIT_MS)
    assert page.locator(DIALOG).count() == 0
