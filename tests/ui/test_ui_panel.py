"""The Tools panel in a real JupyterLab, driven through headless Debian Chromium."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lab_support import (
    ARTIFACTS,
    FILESYSTEM_TOOLS,
    Lab,
    open_panel,
    overflowing,
    running_lab,
    set_theme,
    shot,
    start_cell,
)

from toolkernel.registry import ToolRegistry

pytestmark = pytest.mark.timeout(300)
KERNEL_WAIT_MS = 60_000


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("lab")) as running:
        yield running


@pytest.fixture
def page(lab: Lab, browser: Any) -> Iterator[Any]:
    page = open_panel(browser, lab, "lab/tree/tools-demo.ipynb")
    page.wait_for_selector(".jp-Notebook")
    yield page
    page.close()


def tool_names(page: Any) -> list[str]:
    return page.locator(".jp-toolkernel-row .jp-toolkernel-name").all_inner_texts()


def open_tool(page: Any, name: str) -> None:
    """Open tool `name` (qualified: `local.greet`) from the list."""
    page.locator(f'.jp-toolkernel-row[aria-label="{name}"]').click()
    page.wait_for_selector(f'.jp-toolkernel-details h3:text-is("{name}")')


def total_tools(lab: Lab) -> int:
    with ToolRegistry(lab.home) as registry:
        return len(registry.list_tools())


def test_typing_a_search_filters_the_list(page: Any, lab: Lab) -> None:
    assert set(tool_names(page)) >= {"greet", "noop", "greet_twice", "greet_all"}
    total = total_tools(lab)
    assert page.text_content(".jp-toolkernel-summary") == f"{total} tools"
    shot(page, "panel-list")
    page.fill(".jp-toolkernel-search input", "nothing fast")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-toolkernel-row .jp-toolkernel-name')]"
        ".map(n => n.textContent)[0] === 'noop'"
    )
    assert tool_names(page)[0] == "noop"
    assert "greet_twice" not in tool_names(page)
    shot(page, "panel-search")


def test_the_match_count_is_out_of_every_tool(page: Any, lab: Lab) -> None:
    page.fill(".jp-toolkernel-search input", "greet")
    page.wait_for_selector(".jp-toolkernel-list[data-query='greet']", state="attached")
    matches = page.locator(".jp-toolkernel-row").count()
    total = total_tools(lab)
    assert 0 < matches < total
    assert page.text_content(".jp-toolkernel-summary") == f"{matches} of {total} tools match"


def test_one_name_in_two_namespaces_shows_both_namespaces(page: Any) -> None:
    rows = page.locator(
        ".jp-toolkernel-row", has=page.locator('.jp-toolkernel-name:text-is("greet")')
    )
    assert sorted(rows.locator(".jp-toolkernel-label").all_inner_texts()) == [
        "local.greet",
        "shared.greet",
    ]
    # The namespace is there, dimmed: drawn in a colour other than the name's.
    name, namespace = page.eval_on_selector(
        '.jp-toolkernel-row[aria-label="shared.greet"]',
        "row => ['.jp-toolkernel-name', '.jp-toolkernel-namespace']"
        ".map(s => getComputedStyle(row.querySelector(s)).color)",
    )
    assert name != namespace


def test_groups_list_mcp_servers_first_then_wasm_scripts_pipelines_skills(page: Any) -> None:
    groups = page.locator(".jp-toolkernel-group .jp-toolkernel-group-label").all_inner_texts()
    assert groups == ["filesystem", "WASM tools", "Script tools", "Pipelines", "Skills"]
    mcp_rows = page.locator('.jp-toolkernel-row[aria-label^="filesystem."]')
    assert mcp_rows.locator(".jp-toolkernel-label").all_inner_texts() == sorted(FILESYSTEM_TOOLS)


def test_opening_a_tool_shows_its_signature_and_badges(page: Any) -> None:
    open_tool(page, "local.noop")
    signature = page.inner_text(".jp-toolkernel-signature")
    assert signature.startswith("async def noop(")
    badges = page.locator(".jp-toolkernel-badges .jp-toolkernel-badge").all_inner_texts()
    assert {"wasm", "read-only", "idempotent"} <= set(badges)
    assert overflowing(page, ".jp-toolkernel-details") == []
    shot(page, "panel-details")


def test_a_failed_servers_error_wraps_inside_the_panel(page: Any) -> None:
    row = page.locator(".jp-toolkernel-server:has-text('broken')")
    row.locator(".jp-toolkernel-server-detail").wait_for()
    assert row.get_attribute("data-state") == "failed"
    assert overflowing(page, ".jp-toolkernel-servers") == []
    # Every server row shows without scrolling the section (two servers need little room).
    page.wait_for_function(
        "() => { const s = document.querySelector('.jp-toolkernel-servers');"
        " return s.scrollHeight <= s.clientHeight + 1; }"
    )


@pytest.mark.parametrize("theme", ["JupyterLab Light", "JupyterLab Dark"])
def test_the_versions_tab_fits_the_default_width(page: Any, theme: str) -> None:
    set_theme(page, theme)
    open_tool(page, "local.greet")
    page.click(".jp-toolkernel-tab:has-text('Versions')")
    page.wait_for_selector(".jp-toolkernel-diff-added")
    rollback = page.locator(".jp-toolkernel-rollback")
    assert rollback.count() == 1
    assert overflowing(page, ".jp-toolkernel-details") == []
    assert page.inner_text(".jp-toolkernel-details h3") == "local.greet"
    shot(page, f"panel-versions-{'dark' if 'Dark' in theme else 'light'}")
    set_theme(page, "JupyterLab Light")


def test_rolling_back_adds_a_version_after_confirming(page: Any) -> None:
    open_tool(page, "local.greet")
    page.click(".jp-toolkernel-tab:has-text('Versions')")
    page.wait_for_selector(".jp-toolkernel-version-row")
    before = page.locator(".jp-toolkernel-version-row").count()
    page.wait_for_selector(".jp-toolkernel-diff-added")
    shot(page, "panel-versions-diff")
    page.locator(".jp-toolkernel-version-row", has_text="v1").locator("button").click()
    page.click(".jp-Dialog button.jp-mod-warn")
    page.wait_for_function(
        f"() => document.querySelectorAll('.jp-toolkernel-version-row').length === {before + 1}"
    )
    assert "rollback to v1" in page.inner_text(".jp-toolkernel-versions")
    shot(page, "panel-after-rollback")


def run_cell(page: Any, code: str, expected_output: str) -> None:
    """Put `code` into the first cell, run it, and wait for `expected_output`."""
    start_cell(page, code, wait_ms=KERNEL_WAIT_MS, keys="Shift+Enter")
    page.wait_for_selector(
        f".jp-OutputArea-output:has-text('{expected_output}')", timeout=KERNEL_WAIT_MS
    )


def test_an_inserted_call_runs_in_the_notebook(page: Any) -> None:
    page.wait_for_selector("text=Toolkernel | Idle", timeout=KERNEL_WAIT_MS)
    page.click(".jp-Cell .jp-InputArea-editor")
    open_tool(page, "local.greet")
    page.click(".jp-toolkernel-insert")
    editor = page.locator(".jp-Cell .jp-InputArea-editor")
    assert "await tools.local.greet()" in editor.inner_text()
    editor.click()
    page.keyboard.press("Shift+Enter")
    page.wait_for_selector(".jp-OutputArea-output:has-text('hello')", timeout=KERNEL_WAIT_MS)
    shot(page, "notebook-inserted-call")


def test_the_lock_output_renders_and_goes_into_the_notebook_metadata(page: Any) -> None:
    run_cell(page, 'await tools.local.greet(who="lock")\n%tools lock', "Locked")
    output = page.locator(".jp-toolkernel-lock")
    assert output.locator(".jp-toolkernel-lock-heading").inner_text().startswith("Locked ")
    assert "local.greet" in output.locator(".jp-toolkernel-lock-tools").inner_text()
    metadata = page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.context.model.getMetadata('toolkernel')"
    )
    bundle = page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.content.widgets[0].model.outputs"
        ".toJSON().find(o => o.data && o.data['application/vnd.toolkernel.lock+json'])"
        ".data['application/vnd.toolkernel.lock+json']"
    )
    assert metadata == {"lock": bundle["lock"]}
    assert "local.greet" in metadata["lock"]["tools"]
    shot(page, "notebook-lock")


def test_the_lock_renderer_escapes_text_and_leaves_other_outputs_alone(page: Any) -> None:
    hostile = "<img src=x onerror=alert(1)>"
    bundle = {
        "application/vnd.toolkernel.lock+json": {"lock": {"tools": {hostile: {"version": 1}}}},
        "text/plain": "Locked 1 tool",
    }
    code = f"from IPython.display import display\ndisplay({json.dumps(bundle)}, raw=True)"
    run_cell(page, code, "Locked 1 tool")
    tools = page.locator(".jp-toolkernel-lock-tools")
    assert hostile in tools.inner_text()
    assert tools.locator("img").count() == 0


def test_the_panel_follows_the_dark_theme(page: Any) -> None:
    set_theme(page, "JupyterLab Dark")
    open_tool(page, "local.noop")
    background = page.eval_on_selector(
        ".jp-toolkernel-panel", "node => getComputedStyle(node).backgroundColor"
    )
    shot(page, "panel-dark")
    set_theme(page, "JupyterLab Light")
    red, green, blue = (int(v) for v in background.removeprefix("rgb(").rstrip(")").split(",")[:3])
    assert max(red, green, blue) < 100, f"the panel stayed light: {background}"


def test_arrow_keys_and_enter_open_a_tool(page: Any) -> None:
    page.focus(".jp-toolkernel-list")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_selector(".jp-toolkernel-details h3")
    selected = page.get_attribute(".jp-toolkernel-row[aria-selected='true']", "aria-label")
    assert page.inner_text(".jp-toolkernel-details h3") == selected


def test_the_list_follows_a_change_made_elsewhere(page: Any, lab: Lab) -> None:
    with ToolRegistry(lab.home) as registry:
        current = registry.tool_version("local.noop")
        manifest = {**current.manifest, "description": "Do nothing, even faster."}
        registry.add_version("local.noop", kind="wasm", manifest=manifest, note="elsewhere")
    # The panel polls the registry's generation (every 2 s by default) while visible.
    page.wait_for_selector(".jp-toolkernel-row:has-text('Do nothing, even faster.')")
    row = page.locator(".jp-toolkernel-row", has_text="even faster")
    assert row.locator(".jp-toolkernel-version").inner_text() == "v2"


def test_artifacts_land_where_ci_keeps_them() -> None:
    assert Path(ARTIFACTS).parts[-3:] == ("tests", "artifacts", "ui")


def test_deleting_a_tool_lists_it_as_deleted_and_restore_brings_it_back(
    page: Any, lab: Lab
) -> None:
    open_tool(page, "local.noop")
    page.click(".jp-toolkernel-delete")
    page.click(".jp-Dialog button.jp-mod-warn")
    page.wait_for_selector(".jp-toolkernel-restore")
    with ToolRegistry(lab.home) as registry:
        tombstone = registry.tool_version("local.noop")
    assert tombstone.deleted
    assert page.inner_text(".jp-toolkernel-details-header .jp-toolkernel-badge") == "deleted"
    deleted_row = page.locator(".jp-toolkernel-version-row", has_text="deleted")
    assert deleted_row.locator("strong").inner_text() == f"v{tombstone.version}"
    assert deleted_row.locator(".jp-toolkernel-rollback").count() == 0
    # The list follows: noop leaves the WASM group and is listed under Deleted.
    page.wait_for_selector(".jp-toolkernel-group-label:text-is('Deleted')")
    assert page.locator(".jp-toolkernel-row-deleted").get_attribute("aria-label") == "local.noop"
    live = ".jp-toolkernel-row:not(.jp-toolkernel-row-deleted)[aria-label='local.noop']"
    assert page.locator(live).count() == 0
    assert overflowing(page, ".jp-toolkernel-details") == []
    shot(page, "panel-deleted")

    page.click(".jp-toolkernel-restore")
    page.wait_for_selector(".jp-toolkernel-signature")
    page.wait_for_function("() => !document.querySelector('.jp-toolkernel-row-deleted')")
    restored_badge = f"v{tombstone.version + 1}"
    assert page.inner_text(".jp-toolkernel-details-header .jp-toolkernel-badge") == restored_badge
    with ToolRegistry(lab.home) as registry:
        restored = registry.tool_version("local.noop")
    assert (restored.version, restored.rollback_of) == (
        tombstone.version + 1,
        tombstone.version - 1,
    )
    assert not restored.deleted
