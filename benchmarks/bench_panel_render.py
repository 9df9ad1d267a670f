"""The Tools panel with 10,000 tools, in a real JupyterLab in headless Chromium.

Measured in the page (`performance.now()`, `requestAnimationFrame`):
- first render: from opening the panel to the first rows on screen;
- search: from a keystroke to the filtered list painted, over 30 queries, with and
  without the 150 ms debounce the panel waits before it asks the server;
- scrolling: every frame while the whole unfiltered list is scrolled through, one
  screen per frame; a frame over 50 ms is jank. The list is windowed, so only the
  visible rows exist in the DOM (also reported).

Run: `.venv/bin/python benchmarks/bench_panel_render.py [--tools 10000]`
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from _report import print_table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "ui"))
from lab_support import CHROMIUM, running_lab

QUERIES = [  # consecutive queries differ, so each one is a new search
    "fetch record",
    "parse",
    "summarize 42",
    "tool 9999",
    "server07",
    "record 123",
    "greet",
    "hello",
    "noop",
    "skill",
]
SEARCH_JS = """
async (query) => {
  const input = document.querySelector('.jp-toolkernel-search');
  const list = document.querySelector('.jp-toolkernel-list');
  const started = performance.now();
  input.value = query;
  input.dispatchEvent(new Event('input', { bubbles: true }));
  await new Promise(resolve => {
    const observer = new MutationObserver(() => {
      if (list.dataset.query === query) { observer.disconnect(); resolve(); }
    });
    observer.observe(list, { attributes: true, attributeFilter: ['data-query'] });
  });
  await new Promise(resolve => requestAnimationFrame(() => requestAnimationFrame(resolve)));
  return performance.now() - started;
}
"""
SCROLL_JS = """
async () => {
  const list = document.querySelector('.jp-toolkernel-list');
  const frames = [];
  let last = performance.now();
  let maxRows = 0;
  while (list.scrollTop + list.clientHeight < list.scrollHeight - 1) {
    list.scrollTop += list.clientHeight;
    await new Promise(resolve => requestAnimationFrame(resolve));
    const now = performance.now();
    frames.push(now - last);
    last = now;
    maxRows = Math.max(maxRows, list.querySelectorAll('.jp-toolkernel-row').length);
  }
  return { frames, maxRows, height: list.scrollHeight };
}
"""
OPEN_JS = """
async () => {
  const started = performance.now();
  await window.jupyterapp.commands.execute('toolkernel:open-tools');
  while (!document.querySelector('.jp-toolkernel-row')) {
    await new Promise(resolve => requestAnimationFrame(resolve));
  }
  await new Promise(resolve => requestAnimationFrame(resolve));
  return performance.now() - started;
}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tools", type=int, default=10_000)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    base = Path(tempfile.mkdtemp(prefix="tk-bench-panel-"))
    with running_lab(base, extra_tools=args.tools) as lab, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(120_000)
        page.goto(lab.page_url("lab") + "&reset")
        page.wait_for_selector(".jp-LabShell")
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.commands")
        first_render = page.evaluate(OPEN_JS)
        page.wait_for_function(
            "() => /tools$/.test(document.querySelector('.jp-toolkernel-summary').textContent)"
        )
        summary = page.inner_text(".jp-toolkernel-summary")
        scrolled = page.evaluate(SCROLL_JS)
        searches = [page.evaluate(SEARCH_JS, query) for query in QUERIES * 3]
        browser.close()
    frames = scrolled["frames"]
    janky = sum(1 for frame in frames if frame > 50)
    search_p50 = statistics.median(searches)
    print(f"panel with {summary}")
    print_table(
        "Tools panel in headless Chromium (ms)",
        ["measure", "value"],
        [
            ["open the panel -> first rows painted", first_render],
            ["keystroke -> filtered list painted, p50 (30 queries)", search_p50],
            ["same, without the 150 ms debounce, p50", search_p50 - 150],
            ["scroll the whole list: frames", len(frames)],
            ["scroll: frame time p50", statistics.median(frames)],
            ["scroll: frame time max", max(frames)],
            ["scroll: frames over 50 ms (jank)", janky],
            ["rows in the DOM at most (windowed)", scrolled["maxRows"]],
        ],
    )
    goal = {"goal": "panel: no scroll frame over 50 ms", "value_frames": janky, "met": janky == 0}
    result = {
        "bench": "panel_render",
        "tools": args.tools,
        "first_render_ms": first_render,
        "search_paint_p50_ms": search_p50,
        "scroll_frames": len(frames),
        "scroll_frame_p50_ms": statistics.median(frames),
        "scroll_frame_max_ms": max(frames),
        "scroll_janky_frames": janky,
        "max_rows_in_dom": scrolled["maxRows"],
        "goals": [goal],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
