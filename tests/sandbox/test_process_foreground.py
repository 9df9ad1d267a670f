"""`run_foreground` under real bubblewrap and firejail: exit status, limits, signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest
from process_support import REAL_BACKENDS

from toolkernel_sandbox.process import ProcessPolicy, cgroup_support, run_foreground

pytestmark = pytest.mark.timeout(120)

# The parent and a forked child each hold a fresh 150 MiB at once (pipes make them wait
# for each other, and end at EOF if the other was killed): each stays under its address
# space, their total does not.
TWO_HOGS = textwrap.dedent(
    """
    import os
    block = b"x" * (150 * 2**20)
    to_child, from_parent = os.pipe()
    to_parent, from_child = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(from_parent); os.close(to_parent)
        mine = b"y" * (150 * 2**20)
        os.write(from_child, b".")
        os.read(to_child, 1)
    else:
        os.close(to_child); os.close(from_child)
        mine = b"y" * (150 * 2**20)
        os.read(to_parent, 1)
        os.write(from_parent, b".")
        os.waitpid(child, 0)
    """
)


@pytest.mark.parametrize("backend", REAL_BACKENDS)
def test_the_exit_status_is_the_programs(backend: str) -> None:
    exited = run_foreground(["sh", "-c", "exit 3"], policy=ProcessPolicy(), backend=backend)
    assert exited.returncode == 3
    assert exited.limit is None


@pytest.mark.parametrize("backend", REAL_BACKENDS)
def test_a_program_past_its_cpu_time_ends_with_the_cpu_limit(backend: str) -> None:
    busy = ["python3", "-c", "while True: pass"]
    exited = run_foreground(busy, policy=ProcessPolicy(cpu_s=1), backend=backend)
    assert exited.limit is not None
    assert exited.limit.limit == "cpu"


@pytest.mark.skipif(cgroup_support().memory is None, reason="needs a memory cgroup")
@pytest.mark.parametrize("backend", REAL_BACKENDS)
def test_processes_past_their_memory_total_end_with_the_memory_limit(backend: str) -> None:
    policy = ProcessPolicy(memory_bytes=384 * 2**20)
    exited = run_foreground(["python3", "-c", TWO_HOGS], policy=policy, backend=backend)
    assert exited.limit is not None
    assert exited.limit.limit == "memory"


@pytest.mark.parametrize("backend", REAL_BACKENDS)
def test_sigterm_to_the_launcher_alone_reaches_the_sandbox(backend: str) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        from toolkernel_sandbox.process import ProcessPolicy, run_foreground
        command = ["python3", "-c", "print('up', flush=True); import time; time.sleep(60)"]
        exited = run_foreground(command, policy=ProcessPolicy(), backend={backend!r})
        print("exited", exited.returncode, flush=True)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env
    ) as launcher:
        assert launcher.stdout is not None
        assert launcher.stdout.readline().strip() == "up"
        launcher.send_signal(signal.SIGTERM)
        rest = launcher.stdout.read()
        assert launcher.wait(timeout=30) == 0
    assert rest.startswith("exited ")
    assert rest.split()[1] != "0"
