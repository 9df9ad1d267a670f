"""Quick mode: a benchmark's same code paths and comparisons at tiny sizes.

`--quick` on the command line, or `TOOLKERNEL_BENCH_QUICK=1` in the environment (what
`run_all.py --quick` passes down), shrinks sizes, calls and rounds so that a benchmark
finishes in seconds and still prints its tables, its comparison rows and its JSON. The
numbers of a quick run are a smoke check, not a measurement: the goals are printed but
mean little at these sizes. An option given explicitly on the command line still wins.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

ENV_VAR = "TOOLKERNEL_BENCH_QUICK"


def quick_from_env() -> bool:
    """Whether the environment asks for quick mode (`TOOLKERNEL_BENCH_QUICK=1`)."""
    return os.environ.get(ENV_VAR, "").strip().lower() in {"1", "true", "yes", "on"}


def add_quick_flag(parser: argparse.ArgumentParser) -> None:
    """Add `--quick` (its default follows `TOOLKERNEL_BENCH_QUICK`)."""
    parser.add_argument(
        "--quick",
        action="store_true",
        default=quick_from_env(),
        help=f"tiny sizes and few rounds, same code paths (also: {ENV_VAR}=1)",
    )


def apply_quick(
    parser: argparse.ArgumentParser, args: argparse.Namespace, sizes: dict[str, Any]
) -> bool:
    """In quick mode, set every option of `sizes` that was left at its default.

    Prints one line naming the quick sizes, and returns whether quick mode is on.
    """
    if not args.quick:
        return False
    used = {}
    for name, value in sizes.items():
        if getattr(args, name) == parser.get_default(name):
            setattr(args, name, value)
            used[name] = value
    shown = ", ".join(f"--{name.replace('_', '-')} {_shown(value)}" for name, value in used.items())
    shown = shown or "the full sizes (this benchmark is short already)"
    print(f"quick mode: {shown}; a smoke run, its goals are indicative only")
    return True


def _shown(value: Any) -> str:
    return " ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
