"""The Tools panel of a JupyterLab where no kernel has started yet (headless Chromium)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from lab_support import NOT_STARTED_SERVER, PANEL_WIDTH, Lab, open_panel, running_lab, shot

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("fresh-lab")) as running:
        yield running


@pytest.mark.parametrize("theme", ["JupyterLab Light", "JupyterLab Dark"])
def test_a_server_no_kernel_started_shows_a_neutral_not_started_state(
    browser: Any, lab: Lab, theme: str
) -> None:
    page = open_panel(browser, lab, theme=theme)
    try:
        assert page.locator(".jp-Notebook").count() == 0, "no notebook, so no kernel"
        row = page.locator(f".jp-toolkernel-server:has-text('{NOT_STARTED_SERVER}')")
        row.wait_for()
        assert row.get_attribute("data-state") == "not_started"
        assert row.locator(".jp-toolkernel-state").inner_text() == "not started"
        assert row.locator(".jp-toolkernel-server-detail").inner_text() == (
            "no kernel has connected it yet"
        )
        assert page.locator(".jp-toolkernel-server-connecting").count() == 0
        assert row.locator(".jp-toolkernel-error").count() == 0
        # Neutral: the pill has the dim text colour of the summary line, no state colour.
        colours = page.evaluate(
            """name => {
              const row = [...document.querySelectorAll('.jp-toolkernel-server')]
                .find(node => node.textContent.includes(name));
              const colour = node => getComputedStyle(node).color;
              return [
                colour(row.querySelector('.jp-toolkernel-state')),
                colour(document.querySelector('.jp-toolkernel-summary')),
                colour(row.querySelector('.jp-toolkernel-server-detail')),
              ];
            }""",
            NOT_STARTED_SERVER,
        )
        assert colours[0] == colours[1] == colours[2], colours
        width = page.eval_on_selector(".jp-toolkernel-panel", "n => n.offsetWidth")
        assert abs(width - PANEL_WIDTH) <= 10, f"not the default width: {width}"
        shot(page, f"fresh-lab-{'dark' if 'Dark' in theme else 'light'}")
    finally:
        page.close()


def test_nothing_is_selected_before_a_tool_is_chosen(browser: Any, lab: Lab) -> None:
    page = open_panel(browser, lab)
    try:
        assert page.locator(".jp-toolkernel-row").count() > 0
        assert page.locator(".jp-toolkernel-row[aria-selected='true']").count() == 0
    finally:
        page.close()


def test_the_servers_section_is_no_taller_than_its_rows(browser: Any, lab: Lab) -> None:
    page = open_panel(browser, lab)
    try:
        page.wait_for_selector(f".jp-toolkernel-server:has-text('{NOT_STARTED_SERVER}')")
        page.wait_for_function(
            "() => { const s = document.querySelector('.jp-toolkernel-servers');"
            " return s.style.maxHeight !== '' && s.offsetHeight <= parseFloat(s.style.maxHeight);"
            " }"
        )
        section, rows = page.eval_on_selector(
            ".jp-toolkernel-servers",
            "n => [n.offsetHeight, n.querySelector('.jp-toolkernel-server-rows').offsetHeight]",
        )
        assert section - rows <= 16, f"{section - rows} px left empty under the servers"
    finally:
        page.close()
