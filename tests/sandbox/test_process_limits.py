"""Limits under real bubblewrap and firejail: processes, memory, CPU, time, output."""

from __future__ import annotations

import signal
import threading
import time
import uuid

import pytest
from process_support import REAL_BACKENDS, forks_until_refused, processes_running

from toolkernel_sandbox import LimitExceeded, TimeLimitExceeded
from toolkernel_sandbox.process import ProcessPolicy, run

pytestmark = pytest.mark.parametrize("backend", REAL_BACKENDS)

FORKS = forks_until_refused(hold=False)


def test_forks_stop_at_the_process_limit(backend: str) -> None:
    done = run(["python3", "-c", FORKS], policy=ProcessPolicy(processes=16), backend=backend)
    assert done.returncode == 0, done.stderr
    assert 0 < int(done.stdout) < 16


def test_a_fork_bomb_is_contained_and_killed_at_the_deadline(backend: str) -> None:
    token = f"bomb{uuid.uuid4().hex[:8]}"
    # The classic bomb, then a wait, so the run ends only at the deadline.
    bomb = f"{token}() {{ {token} | {token} & }}; {token}; exec sleep 30"
    policy = ProcessPolicy(processes=32, timeout_s=2)
    started = time.monotonic()
    with pytest.raises(TimeLimitExceeded) as caught:
        run(["bash", "-c", bomb], policy=policy, backend=backend)
    assert caught.value.limit == "time"
    assert "Resource temporarily unavailable" in caught.value.stderr  # the limit held it
    assert time.monotonic() - started < 10
    assert processes_running(token) == []


def test_a_memory_bomb_fails_its_allocation(backend: str) -> None:
    policy = ProcessPolicy(memory_bytes=256 * 2**20)
    code = "x = bytearray(2 * 2**30)"
    done = run(["python3", "-c", code], policy=policy, backend=backend)
    assert done.returncode != 0
    assert b"MemoryError" in done.stderr


def test_a_cpu_spin_is_stopped_by_the_cpu_limit(backend: str) -> None:
    policy = ProcessPolicy(cpu_s=1, timeout_s=30)
    started = time.monotonic()
    with pytest.raises(TimeLimitExceeded, match=r"ProcessPolicy\.cpu_s") as caught:
        run(["python3", "-c", "while True: pass"], policy=policy, backend=backend)
    assert (caught.value.limit, caught.value.value) == ("cpu", 1)
    assert time.monotonic() - started < 10


def test_the_timeout_kills_the_whole_process_group(backend: str) -> None:
    token = f"{uuid.uuid4().int % 10**6}.{uuid.uuid4().int % 10**3 + 1}"
    # A child that starts a grandchild in its own session, then sleeps itself.
    script = f"setsid sleep 1{token} & sleep 2{token}"
    policy = ProcessPolicy(timeout_s=1)
    with pytest.raises(TimeLimitExceeded, match=r"ProcessPolicy\.timeout_s") as caught:
        run(["bash", "-c", script], policy=policy, backend=backend)
    assert (caught.value.limit, caught.value.value) == ("time", 1)
    assert processes_running(token) == []


def test_an_output_flood_is_capped(backend: str) -> None:
    policy = ProcessPolicy(stdout_bytes=10_000)
    with pytest.raises(LimitExceeded, match="more than 10000 bytes to stdout") as caught:
        run(["yes", "flood"], policy=policy, backend=backend)
    assert (caught.value.limit, caught.value.value) == ("stdout", 10_000)


def test_a_stderr_flood_is_capped(backend: str) -> None:
    policy = ProcessPolicy(stderr_bytes=5_000)
    with pytest.raises(LimitExceeded) as caught:
        run(["bash", "-c", "yes flood >&2"], policy=policy, backend=backend)
    assert caught.value.limit == "stderr"
    assert caught.value.stderr.endswith("flood\nflood\nfl")


def test_a_file_over_the_size_limit_stops_the_writer(backend: str) -> None:
    policy = ProcessPolicy(file_size_bytes=2**20)
    script = "head -c 5000000 /dev/zero > /tmp/big"
    with pytest.raises(LimitExceeded, match="file_size_bytes") as caught:
        run(["bash", "-c", script], policy=policy, backend=backend)
    assert caught.value.limit == "file_size"


def test_keyboard_interrupt_kills_the_group_and_propagates(backend: str) -> None:
    token = f"{uuid.uuid4().int % 10**6}.{uuid.uuid4().int % 10**3 + 1}"

    def interrupt(line: str) -> None:
        # The first line proves the child runs; then Ctrl-C the waiting main thread.
        main = threading.main_thread().ident
        assert main is not None
        signal.pthread_kill(main, signal.SIGINT)

    script = f"sleep 3{token} & echo started; wait"
    with pytest.raises(KeyboardInterrupt):
        run(["bash", "-c", script], backend=backend, on_stdout_line=interrupt)
    assert processes_running(token) == []
