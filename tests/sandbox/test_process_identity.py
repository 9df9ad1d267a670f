"""Each tool runs as a uid of its own: its process limit, /proc and signals are its own."""

from __future__ import annotations

import asyncio
import json
import os

import pytest
from process_support import REAL_BACKENDS

from toolkernel_sandbox.process import (
    SANDBOX_GID,
    ProcessPolicy,
    identity_for,
    run,
    spawn,
)

pytestmark = [
    pytest.mark.parametrize("backend", REAL_BACKENDS),
    pytest.mark.skipif(os.geteuid() != 0, reason="identities are given out only as root"),
]
BOUND_S = 30

# Forks children that wait on their stdin until the parent says "full" (a fork failed).
HOG = """
import os, sys
children = 0
try:
    while children < 500:
        if os.fork() == 0:
            sys.stdin.read()
            os._exit(0)
        children += 1
except OSError:
    pass
print("full", children, flush=True)
sys.stdin.read()
"""

# Reports who it runs as, what /proc shows, and whether it can start a few threads.
PROBE = """
import json, os, threading
done = []
threads = [threading.Thread(target=done.append, args=(i,)) for i in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
print(json.dumps({"uid": os.getuid(), "gid": os.getgid(), "threads": len(done), "pids": pids}))
"""


def test_a_tool_at_its_process_limit_never_starves_another(backend: str) -> None:
    hog = ProcessPolicy(uid=identity_for("local.hog"), processes=24, timeout_s=BOUND_S)
    other = ProcessPolicy(uid=identity_for("local.other"), processes=24, timeout_s=BOUND_S)

    async def scenario() -> tuple[bytes, dict[str, object]]:
        async with asyncio.timeout(BOUND_S):
            async with await spawn(["python3", "-c", HOG], policy=hog, backend=backend) as full:
                line = await full.readline()  # the hog is at its limit now
                done = await asyncio.to_thread(
                    run, ["python3", "-c", PROBE], policy=other, backend=backend
                )
                full.close_stdin()
                assert done.returncode == 0, done.stderr
                return line, json.loads(done.stdout)

    line, seen = asyncio.run(scenario())
    assert line.startswith(b"full ")
    assert seen["uid"] == identity_for("local.other")
    assert seen["gid"] == SANDBOX_GID
    assert seen["threads"] == 8
    # Its own pid namespace: it sees only its own processes, never the hog's.
    assert len(seen["pids"]) <= 3  # type: ignore[arg-type]
