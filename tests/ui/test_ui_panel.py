"""The Tools panel in a real JupyterLab, driven through headless Debian Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lab_support import ARTIFACTS, CHROMIUM, Lab, running_lab

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/setup)"),
]
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("lab")) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield launched
        launched.close()


@pytest.fixture
def page(lab: Lab, browser: Any) -> Iterator[Any]:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.set_default_timeout(WAIT_MS)
    page.goto(lab.page_url("lab/tree/tools-demo.ipynb") + "&reset")
    page.wait_for_selector(".jp-Notebook")
    # The command opens the panel whatever the restored layout (a tab click toggles it).
    page.evaluate("() => window.jupyterapp.commands.execute('toolkernel:open-tools')")
    page.wait_for_selector(".jp-toolkernel-row")
    news = page.locator(".jp-toast-button:has-text('No')")
    if news.count():
        news.first.click()  # JupyterLab's news question covers the screenshots
    yield page
    page.close()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def tool_names(page: Any) -> list[str]:
    return page.locator(".jp-toolkernel-row .jp-toolkernel-name").all_inner_texts()


def open_tool(page: Any, tool: str) -> None:
    page.locator(
        ".jp-toolkernel-row", has=page.locator(f'.jp-toolkernel-name:text-is("{tool}")')
    ).click()
    page.wait_for_selector(f'.jp-toolkernel-details h3:text-is("local.{tool}")')


def test_typing_a_search_filters_the_list(page: Any) -> None:
    assert set(tool_names(page)) >= {"greet", "noop", "greet_twice", "greet_all"}
    shot(page, "panel-list")
    page.fill(".jp-toolkernel-search", "nothing fast")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-toolkernel-row .jp-toolkernel-name')]"
        ".map(n => n.textContent)[0] === 'noop'"
    )
    assert tool_names(page)[0] == "noop"
    assert "greet_twice" not in tool_names(page)
    shot(page, "panel-search")


def test_opening_a_tool_shows_its_signature_and_badges(page: Any) -> None:
    open_tool(page, "noop")
    signature = page.inner_text(".jp-toolkernel-signature")
    assert signature.startswith("async def noop(")
    badges = page.locator(".jp-toolkernel-badges .jp-toolkernel-badge").all_inner_texts()
    assert {"wasm", "read-only", "idempotent"} <= set(badges)
    shot(page, "panel-details")


def test_rolling_back_adds_a_version_after_confirming(page: Any) -> None:
    open_tool(page, "greet")
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


def test_an_inserted_call_runs_in_the_notebook(page: Any) -> None:
    page.wait_for_selector("text=Toolkernel | Idle", timeout=60_000)
    page.click(".jp-Cell .jp-InputArea-editor")
    open_tool(page, "greet")
    page.click(".jp-toolkernel-insert")
    editor = page.locator(".jp-Cell .jp-InputArea-editor")
    assert "await tools.local.greet()" in editor.inner_text()
    editor.click()
    page.keyboard.press("Shift+Enter")
    page.wait_for_selector(".jp-OutputArea-output:has-text('hello')", timeout=60_000)
    shot(page, "notebook-inserted-call")


def test_the_panel_follows_the_dark_theme(page: Any) -> None:
    page.evaluate(
        "() => window.jupyterapp.commands.execute('apputils:change-theme',"
        " {theme: 'JupyterLab Dark'})"
    )
    page.wait_for_selector("body[data-jp-theme-light='false']", state="attached")
    open_tool(page, "noop")
    background = page.eval_on_selector(
        ".jp-toolkernel-panel", "node => getComputedStyle(node).backgroundColor"
    )
    shot(page, "panel-dark")
    page.evaluate(
        "() => window.jupyterapp.commands.execute('apputils:change-theme',"
        " {theme: 'JupyterLab Light'})"
    )
    red, green, blue = (int(v) for v in background.removeprefix("rgb(").rstrip(")").split(",")[:3])
    assert max(red, green, blue) < 100, f"the panel stayed light: {background}"


def test_arrow_keys_and_enter_open_a_tool(page: Any) -> None:
    page.focus(".jp-toolkernel-list")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_selector(".jp-toolkernel-details h3")
    selected = page.inner_text(".jp-toolkernel-row[aria-selected='true'] .jp-toolkernel-name")
    assert page.inner_text(".jp-toolkernel-details h3").endswith(f".{selected}")


def test_the_list_follows_a_change_made_elsewhere(page: Any, lab: Lab) -> None:
    from toolkernel.registry import ToolRegistry

    with ToolRegistry(lab.home) as registry:
        current = registry.tool_version("local.noop")
        manifest = {**current.manifest, "description": "Do nothing, even faster."}
        registry.add_version("local.noop", kind="wasm", manifest=manifest, note="elsewhere")
    # The panel polls the registry's generation every 2 s while it is visible.
    page.wait_for_selector(".jp-toolkernel-row:has-text('Do nothing, even faster.')")
    row = page.locator(".jp-toolkernel-row", has_text="even faster")
    assert row.locator(".jp-toolkernel-version").inner_text() == "v2"


def test_artifacts_land_where_ci_keeps_them() -> None:
    assert Path(ARTIFACTS).parts[-3:] == ("tests", "artifacts", "ui")
