"""Plain-text tables, as every benchmark here prints them."""

from __future__ import annotations

from typing import Any


def print_table(title: str, headers: list[str], rows: list[list[Any]]) -> None:
    """Print a plain-text table: first column left-aligned, the rest right-aligned."""
    cells = [[_cell(v) for v in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    print(f"\n{title}")
    for n, row in enumerate(cells):
        rest = [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        parts = [row[0].ljust(widths[0]), *rest]
        print("  " + "  ".join(parts))
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def latency_table(title: str, rows: dict[str, dict[str, float]], *, unit: str = "ms") -> None:
    """Print p50 and p90 of each row of `summary()` results (in ms), in ms or us."""
    scale, digits = (1000.0, 0) if unit == "us" else (1.0, 2)
    print_table(
        title,
        ["path", f"p50 {unit}", f"p90 {unit}"],
        [
            [label, f"{s['p50'] * scale:.{digits}f}", f"{s['p90'] * scale:.{digits}f}"]
            for label, s in rows.items()
        ],
    )
