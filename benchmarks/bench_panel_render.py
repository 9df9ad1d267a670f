"""The Tools panel with 10,000 tools, in a real JupyterLab in headless Chromium.

Measured in the page (`performance.now()`, `requestAnimationFrame`):
- first render: from opening the panel to the first rows on screen;
- search: from a keystroke to the filtered list painted, over 30 queries, with and
  without the 150 ms debounce the panel waits before it asks the server;
- scrolling: every frame while the whole unfiltered list is scrolled through, one
  screen per frame; a frame over 50 ms is jank. The list is windowed, so only the
  visible rows exist in the DOM (also reported).

Run: `.venv/bin/python benchmarks/bench_panel_render.py [--tools 10000] [--query-rounds 3]
[--quick]` (`--quick`: 300 tools, each of the 10 queries once).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _quick import add_quick_flag, apply_quick
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
OPEN_COMMAND = "toolkernel:open-tools"
STEP_TIMEOUT_MS = 60_000
"""Bound on each step in the page (a JS loop or observer that never ends would hang)."""
SEARCH_JS = """
async ([query, limit]) => {
  // The search box is JupyterLab's FilterBox: a <jp-search> whose <input> is in its
  // shadow root. Typing there fires `input`, which the component passes on.
  const search = document.querySelector('.jp-toolkernel-search jp-search');
  const input = search.shadowRoot.querySelector('input');
  const list = document.querySelector('.jp-toolkernel-list');
  const started = performance.now();
  input.value = query;
  input.dispatchEvent(new Event('input', { bubbles: true, composed: true }));
  await new Promise((resolve, reject) => {
    const observer = new MutationObserver(() => {
      if (list.dataset.query === query) { observer.disconnect(); resolve(); }
    });
    observer.observe(list, { attributes: true, attributeFilter: ['data-query'] });
    setTimeout(() => {
      observer.disconnect();
      const shown = document.querySelector('.jp-toolkernel-summary').textContent;
      reject(new Error(`the list did not show the search ${query} within ${limit} ms: ${shown}`));
    }, limit);
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
async ([command, limit]) => {
  const started = performance.now();
  await window.jupyterapp.commands.execute(command);
  while (!document.querySelector('.jp-toolkernel-row')) {
    if (performance.now() - started > limit) {
      const panel = document.querySelector('.jp-toolkernel-summary');
      const shown = panel ? panel.textContent : 'no panel';
      throw new Error(`no tool row painted within ${limit} ms (panel: ${shown})`);
    }
    await new Promise(resolve => requestAnimationFrame(resolve));
  }
  await new Promise(resolve => requestAnimationFrame(resolve));
  return performance.now() - started;
}
"""


def _since(started: float) -> str:
    return f"{time.perf_counter() - started:.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tools", type=int, default=10_000)
    parser.add_argument("--query-rounds", type=int, default=3, help="passes over the queries")
    add_quick_flag(parser)
    args = parser.parse_args()
    apply_quick(parser, args, {"tools": 300, "query_rounds": 1})
    from playwright.sync_api import sync_playwright

    base = Path(tempfile.mkdtemp(prefix="tk-bench-panel-"))
    started = time.perf_counter()
    try:
        with running_lab(base, extra_tools=args.tools) as lab, sync_playwright() as playwright:
            print(
                f"  jupyter lab with {args.tools:,} extra tools up in {_since(started)}", flush=True
            )
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM),
                args=[
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                ],
            )
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(STEP_TIMEOUT_MS)
            page.goto(lab.page_url("lab") + "&reset")
            page.wait_for_selector(".jp-LabShell")
            page.wait_for_function(
                "(command) => window.jupyterapp && window.jupyterapp.commands.hasCommand(command)",
                arg=OPEN_COMMAND,
            )
            print(f"  JupyterLab loaded in Chromium at {_since(started)}", flush=True)
            first_render = page.evaluate(OPEN_JS, [OPEN_COMMAND, STEP_TIMEOUT_MS])
            page.wait_for_function(
                "() => /tools$/.test(document.querySelector('.jp-toolkernel-summary').textContent)"
            )
            summary = page.inner_text(".jp-toolkernel-summary")
            scrolled = page.evaluate(SCROLL_JS)
            searches = [
                page.evaluate(SEARCH_JS, [query, STEP_TIMEOUT_MS])
                for query in QUERIES * args.query_rounds
            ]
            browser.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    frames = scrolled["frames"]
    janky = sum(1 for frame in frames if frame > 50)
    search_p50 = statistics.median(searches)
    print(f"panel with {summary}")
    print_table(
        "Tools panel in headless Chromium (ms)",
        ["measure", "value"],
        [
            ["open the panel -> first rows painted", first_render],
            [f"keystroke -> filtered list painted, p50 ({len(searches)} queries)", search_p50],
            ["same, without the 150 ms debounce, p50", search_p50 - 150],
            ["scroll the whole list: frames", len(frames)],
            ["scroll: frame time p50", statistics.median(frames)],
            ["scroll: frame time max", max(frames)],
            ["scroll: frames over 50 ms (jank)", janky],
            ["rows in the DOM at most (windowed)", scrolled["maxRows"]],
        ],
    )
    print(
        f"first rows painted in {first_render:.0f} ms; search painted p50 {search_p50:.0f} ms; "
        f"scroll frame max {max(frames):.1f} ms, {janky} over 50 ms"
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
