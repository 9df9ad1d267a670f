"""Ending the child processes a benchmark started, by pid, so none outlive a run."""

from __future__ import annotations

import contextlib

import psutil


def end_processes(processes: list[psutil.Process], grace: float = 10.0) -> int:
    """Wait up to `grace` s for `processes` to exit, then terminate/kill the rest by pid.

    Returns how many had to be ended.
    """
    _, alive = psutil.wait_procs(processes, timeout=grace)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, still = psutil.wait_procs(alive, timeout=5)
    for proc in still:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    if alive:
        print(f"  (ended {len(alive)} process(es) left behind: {[p.pid for p in alive]})")
    return len(alive)
