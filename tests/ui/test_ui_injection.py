"""Hostile text from skills, tool descriptions and media stays inert in a real JupyterLab.

JupyterLab renders the outputs of cells the person ran as trusted: raw HTML in Markdown
and `text/html` go into the page as they are. Every payload below tries to set
`window.__tk_pwned` to its own number; one notebook produces them all through
toolkernel's real display paths, and the page must show them as text and never run
them. Its last cell is deliberately live: it proves that this lab does run handlers in
trusted outputs, so the payloads' silence means something.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from lab_support import NOTEBOOK, Lab, open_panel, running_lab, shot
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

pytestmark = pytest.mark.timeout(300)
KERNEL_WAIT_MS = 60_000
NOTEBOOK_NAME = "injection.ipynb"

SKILL_DESCRIPTION = (
    '<img src=x onerror="window.__tk_pwned=1"> | <b>bold</b> | '
    "[click](javascript:window.__tk_pwned=2) ![pixel](pixel.png)"
)
SKILL_BODY = (
    "# Evil skill\n"
    '<svg onload="window.__tk_pwned=3"></svg>\n'
    "```\n"
    '<img src=x onerror="window.__tk_pwned=4">\n'
    "````\n"
)
SKILL_MD = f"---\nname: evil-skill\ndescription: '{SKILL_DESCRIPTION}'\n---\n{SKILL_BODY}"
TOOL_DESCRIPTION = (
    "Fetch a page.\n"
    "```\n"
    '<img src=x onerror="window.__tk_pwned=7">\n'
    "````\n"
    '<svg onload="window.__tk_pwned=8"></svg>\n'
    "[click me](javascript:window.__tk_pwned=9)\n"
    '| a | <img src=x onerror="window.__tk_pwned=10"> |\n'
)
SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" onload="window.__tk_pwned=5">'
    "<script>window.__tk_pwned=6</script></svg>"
)
IMAGE_MIME = 'image/svg+xml" onload="window.__tk_pwned=11'
AUDIO_MIME = 'audio/wav"><img src=x onerror="window.__tk_pwned=12">'
HTML_DATA = '<img src=x onerror="window.__tk_pwned=13">'
WAT = '(module (func (export "_start")))'

SETUP = f"""from toolkernel.bindings import ToolAudio, ToolImage

create_tool(None, kind="skill", language="markdown", source={{"SKILL.md": {SKILL_MD!r}}})
create_tool("evil_tool", language="wat", source={WAT!r}, description={TOOL_DESCRIPTION!r})
print("ready")"""

# (code, text its rendered output shows once it is there); every cell but the last is hostile.
CELLS: list[tuple[str, str]] = [
    (SETUP, "ready"),
    ('load_skill("evil-skill")', '<img src=x onerror="window.__tk_pwned=4">'),
    ("skills", '<img src=x onerror="window.__tk_pwned=1">'),
    ('get_tool_details("local.evil_tool")', '<img src=x onerror="window.__tk_pwned=10">'),
    ('get_tool_details("skills.evil_skill")', '<img src=x onerror="window.__tk_pwned=1">'),
    (f"ToolImage({SVG!r}.encode(), 'image/svg+xml')", ""),
    (f"ToolImage({SVG!r}.encode(), {IMAGE_MIME!r})", IMAGE_MIME),
    (f"ToolAudio(b'RIFF', {AUDIO_MIME!r})", AUDIO_MIME),
    (f"ToolImage({HTML_DATA!r}.encode(), 'text/html')", "<ToolImage text/html"),
    (
        "from IPython.display import HTML\n"
        "HTML('<img src=x onerror=\"window.__tk_control=1\">control')",
        "control",
    ),
]
HOSTILE = range(len(CELLS) - 1)
SKILL_TEXT, SKILLS_TABLE, TOOL_DETAILS, SVG_IMAGE = 1, 2, 3, 5
RUN_ALL = "() => { void window.jupyterapp.commands.execute('notebook:run-all-cells'); }"
"""Start every cell without awaiting the run: each output is then awaited, bounded."""

LIVE_MARKUP = """([indices, links]) => {
  const cells = [...document.querySelectorAll('.jp-Notebook .jp-Cell')];
  const found = [];
  for (const index of indices) {
    for (const node of cells[index].querySelectorAll('.jp-OutputArea-output *')) {
      const tag = node.tagName.toLowerCase();
      const handlers = [...node.attributes].filter(a => a.name.toLowerCase().startsWith('on'));
      const href = (node.getAttribute('href') || '').trim().toLowerCase();
      const live = links
        ? href.startsWith('javascript:')
        : ['script', 'iframe', 'object', 'embed'].includes(tag) || handlers.length > 0;
      if (live) found.push(`cell ${index}: ${node.outerHTML.slice(0, 200)}`);
    }
  }
  return found;
}"""
"""Markup in the outputs of the cells `indices` that could run script: event handlers and
script-bearing elements, or (with `links`) `javascript:` links."""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("injection-lab")) as running:
        yield running


@pytest.fixture(scope="module")
def page(lab: Lab, browser: Any) -> Iterator[Any]:
    """The notebook of payloads, run once in the lab, every output rendered."""
    cells: list[dict[str, Any]] = [
        {
            "cell_type": "code",
            "metadata": {},
            "source": code,
            "outputs": [],
            "execution_count": None,
        }
        for code, _ in CELLS
    ]
    (lab.root / NOTEBOOK_NAME).write_text(json.dumps({**NOTEBOOK, "cells": cells}))
    page = open_panel(browser, lab, f"lab/tree/{NOTEBOOK_NAME}")
    try:
        page.wait_for_selector(".jp-Notebook")
        page.wait_for_selector("text=Toolkernel | Idle", timeout=KERNEL_WAIT_MS)
        assert page.evaluate("() => typeof window.__tk_pwned") == "undefined"
        page.evaluate(RUN_ALL)
        for index, (_, text) in enumerate(CELLS):
            wait_for_output(page, index, text)
        # The control's handler fires once its image fails to load; the hostile images,
        # rendered before it, would have failed and fired by then too.
        page.wait_for_function("() => window.__tk_control === 1", timeout=KERNEL_WAIT_MS)
        yield page
    finally:
        page.close()


def cell(page: Any, index: int) -> Any:
    return page.locator(".jp-Notebook .jp-Cell").nth(index)


def wait_for_output(page: Any, index: int, text: str) -> None:
    """Wait until cell `index` shows an output containing `text` (any output if empty)."""
    outputs = cell(page, index).locator(".jp-OutputArea-output")
    try:
        outputs.filter(has_text=text).first.wait_for(timeout=KERNEL_WAIT_MS)
    except PlaywrightTimeoutError:
        shown = outputs.all_inner_texts()
        pytest.fail(f"cell {index} never showed {text!r}; its outputs: {shown}")


def test_no_payload_runs_script_though_the_lab_runs_trusted_handlers(page: Any) -> None:
    cell(page, TOOL_DETAILS).scroll_into_view_if_needed()
    shot(page, "injection")
    assert page.evaluate("() => window.__tk_control") == 1
    assert page.evaluate("() => window.__tk_pwned") is None


def test_no_output_holds_handlers_scripts_or_frames(page: Any) -> None:
    assert page.evaluate(LIVE_MARKUP, [list(HOSTILE), False]) == []


def test_code_blocks_and_media_hold_no_javascript_links(page: Any) -> None:
    others = [index for index in HOSTILE if index != SKILLS_TABLE]
    assert page.evaluate(LIVE_MARKUP, [others, True]) == []


def test_a_skills_description_stays_one_table_cell_with_its_html_as_text(page: Any) -> None:
    row = cell(page, SKILLS_TABLE).locator("tr", has_text="evil_skill")
    cells = row.locator("td").all_inner_texts()
    assert cells[:3] == ["evil_skill", "Agent Skill", "1"]
    assert len(cells) == 4, "a pipe in the description split the row"
    assert cells[3].startswith('<img src=x onerror="window.__tk_pwned=1"> | <b>bold</b> | ')


def test_markdown_in_a_skills_description_shows_as_text(page: Any) -> None:
    description = cell(page, SKILLS_TABLE).locator("tr", has_text="evil_skill").locator("td")
    assert page.evaluate(LIVE_MARKUP, [[SKILLS_TABLE], True]) == []
    assert description.last.inner_text() == SKILL_DESCRIPTION


def test_skill_instructions_and_tool_descriptions_show_as_text(page: Any) -> None:
    assert SKILL_BODY.strip() in cell(page, SKILL_TEXT).inner_text()
    details = cell(page, TOOL_DETAILS).inner_text()
    missing = [line for line in TOOL_DESCRIPTION.splitlines() if line not in details]
    assert missing == []


def test_an_svg_result_is_shown_only_inside_an_img(page: Any) -> None:
    image = cell(page, SVG_IMAGE).locator(".jp-OutputArea-output img")
    assert image.get_attribute("src").startswith("data:image/svg+xml;base64,")
    assert cell(page, SVG_IMAGE).locator(".jp-OutputArea-output svg").count() == 0
