"""Shared bits for the process sandbox tests: the real backends, and finding processes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# Each isolating backend that is installed here; a missing one is skipped, saying so.
REAL_BACKENDS = [
    pytest.param(
        name,
        marks=pytest.mark.skipif(
            shutil.which(name) is None, reason=f"{name} is not installed ({install})"
        ),
    )
    for name, install in (
        ("bwrap", "apt-get install bubblewrap"),
        ("firejail", "apt-get install firejail"),
    )
]


def processes_running(token: str) -> list[int]:
    """Host pids of live (non-zombie) processes whose command line contains `token`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # exited while we looked
        # A zombie's cmdline is empty, so a dead process never matches.
        if token.encode() in cmdline:
            found.append(int(entry.name))
    return found


def forks_until_refused(*, hold: bool) -> str:
    """A Python program that forks children (each waiting on a pipe, so none exits)
    until a fork is refused, then prints how many it made; with `hold`, it then waits
    too, so everything it made stays alive until the run is killed."""
    wait = "os.read(r, 1)\n" if hold else ""
    return (
        "import os\n"
        "r, w = os.pipe()\n"
        "made = 0\n"
        "try:\n"
        "    for _ in range(500):\n"
        "        if os.fork() == 0:\n"
        "            os.read(r, 1)\n"
        "            os._exit(0)\n"
        "        made += 1\n"
        "except OSError:\n"
        "    pass\n"
        "print(made, flush=True)\n"
    ) + wait
