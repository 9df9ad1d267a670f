"""Totals per run (memory, processes, /tmp) under real bubblewrap and firejail."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from process_support import REAL_BACKENDS, forks_until_refused, processes_running

from toolkernel_sandbox import LimitExceeded, SandboxError, TimeLimitExceeded
from toolkernel_sandbox.process import (
    CgroupSupport,
    ProcessPolicy,
    cgroup_join_argv,
    cgroup_support,
    find_cgroups,
    run,
    spawn,
)
from toolkernel_sandbox.process._argv import join_failed
from toolkernel_sandbox.process._cgroups import join_error

MIB = 2**20
BOUND_S = 30
SUPPORT = cgroup_support()
needs_memory_total = pytest.mark.skipif(
    SUPPORT.memory is None, reason=f"no memory cgroup here: {SUPPORT.reason}"
)
needs_process_total = pytest.mark.skipif(
    SUPPORT.pids is None, reason=f"no pids cgroup here: {SUPPORT.reason}"
)

# N children each touch 80 MiB, then hold it; the parent waits for all but one to die,
# which only a kill can do: two of them pass a 128 MiB total, so it always comes.
HOGS = """
import os
r, w = os.pipe()
for _ in range({n}):
    if os.fork() == 0:
        block = bytearray(80 * 2**20)
        block[::4096] = b"x" * len(block[::4096])
        os.read(r, 1)
        os._exit(0)
for _ in range({n} - 1):
    os.wait()
print("all but one gone")
"""

FORKS = forks_until_refused(hold=True)


def our_run_cgroups() -> set[Path]:
    """The run cgroups this test process has made that still exist."""
    prefix = f"toolkernel-{os.getpid()}-"
    return {p for d in SUPPORT.dirs for p in d.iterdir() if p.name.startswith(prefix)}


def no_cgroups(tmp_path: Path) -> CgroupSupport:
    """`find_cgroups` on a machine without cgroups: a fake /proc/self/{cgroup,mountinfo}."""
    (tmp_path / "cgroup").write_text("0::/\n")
    (tmp_path / "mountinfo").write_text("22 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n")
    return find_cgroups(tmp_path / "cgroup", tmp_path / "mountinfo")


@needs_memory_total
@pytest.mark.parametrize("backend", REAL_BACKENDS)
def test_children_together_stop_at_the_memory_total(backend: str) -> None:
    # Each child fits its own 128 MiB address space; two together pass the total.
    policy = ProcessPolicy(memory_bytes=128 * MIB, timeout_s=BOUND_S)
    with pytest.raises(LimitExceeded, match="used its 128 MiB memory total") as caught:
        run(["python3", "-c", HOGS.format(n=6)], policy=policy, backend=backend)
    assert (caught.value.limit, caught.value.value) == ("memory", 128 * MIB)
    assert "raise ProcessPolicy.memory_bytes" in str(caught.value)
    # The host is fine: the next run works.
    assert run(["echo", "ok"], backend=backend).stdout == b"ok\n"


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
def test_bwrap_tmp_is_full_at_its_size() -> None:
    # The memory total (1 GiB) and the file size limit (64 MiB) are far away.
    policy = ProcessPolicy(tmp_bytes=1 * MIB)
    script = "head -c 500000 /dev/zero > /tmp/small && head -c 41943040 /dev/zero > /tmp/big"
    done = run(["sh", "-c", script], policy=policy, backend="bwrap")
    assert done.returncode != 0
    assert b"No space left on device" in done.stderr


@needs_memory_total
@pytest.mark.skipif(shutil.which("firejail") is None, reason="firejail is not installed")
def test_firejail_tmp_is_bounded_by_the_memory_total() -> None:
    # firejail cannot size /tmp; the tmpfs pages count against the run's memory total.
    policy = ProcessPolicy(tmp_bytes=1 * MIB, memory_bytes=32 * MIB)
    script = "head -c 41943040 /dev/zero > /tmp/big"
    with pytest.raises(LimitExceeded, match="32 MiB memory total") as caught:
        run(["sh", "-c", script], policy=policy, backend="firejail")
    assert caught.value.limit == "memory"


class Seen(Exception):
    """What the callback saw inside a running bomb, carried out of `run`."""

    def __init__(self, made: int, running: int, pids_max: str, refused: int) -> None:
        super().__init__(made, running, pids_max, refused)
        self.made, self.running, self.pids_max, self.refused = made, running, pids_max, refused


@needs_process_total
@pytest.mark.parametrize("backend", REAL_BACKENDS)
def test_a_fork_bomb_stays_under_the_process_total(backend: str) -> None:
    token = f"bomb{uuid.uuid4().hex[:8]}"
    policy = ProcessPolicy(processes=24, timeout_s=BOUND_S)

    def inspect(line: str) -> None:
        # The bomb holds every process it made: count them from outside, and read the
        # run's pids cgroup (found from one of its processes) while it still exists.
        pids = processes_running(token)
        own = Path(f"/proc/{pids[0]}/cgroup").read_text().splitlines()
        want = "" if SUPPORT.version == 2 else "pids"
        path = next(row.split(":", 2)[2] for row in own if row.split(":")[1] == want)
        assert SUPPORT.pids is not None
        cgroup = SUPPORT.pids / Path(path).name
        events = dict(row.split() for row in (cgroup / "pids.events").read_text().splitlines())
        max_ = (cgroup / "pids.max").read_text().strip()
        raise Seen(int(line), len(pids), max_, int(events["max"]))  # refused: for the log

    with pytest.raises(Seen) as caught:
        run(
            ["python3", "-c", f"# {token}\n{FORKS}"],
            policy=policy,
            on_stdout_line=inspect,
            backend=backend,
        )
    seen = caught.value
    assert seen.pids_max == "24"  # the run's own cgroup holds the total
    # Which refusal comes first depends on the machine: the cgroup's total, or (while
    # another suite's runs share uid 65534) RLIMIT_NPROC of that uid. Either way the
    # bomb stays under its total.
    assert 0 < seen.made < 24
    assert seen.running <= 24  # everything of the run, the sandbox's own processes too
    assert processes_running(token) == []


@needs_process_total
@pytest.mark.parametrize("backend", REAL_BACKENDS)
def test_no_run_cgroup_is_left_behind(backend: str) -> None:
    before = our_run_cgroups()
    run(["true"], backend=backend)
    with pytest.raises(TimeLimitExceeded):
        run(["sleep", "30"], policy=ProcessPolicy(timeout_s=0.5), backend=backend)
    # An orphan in its own session, left running when the command exits.
    run(["sh", "-c", "setsid sleep 30 & echo started"], backend=backend)

    async def killed_worker() -> None:
        async with asyncio.timeout(BOUND_S):
            async with await spawn(["sleep", "30"], backend=backend) as worker:
                worker.kill()

    asyncio.run(killed_worker())
    assert our_run_cgroups() == before == set()


@needs_memory_total
@pytest.mark.parametrize("backend", REAL_BACKENDS)
def test_a_worker_says_the_memory_total_stopped_it(backend: str) -> None:
    policy = ProcessPolicy(memory_bytes=128 * MIB)
    grow = HOGS.format(n=2)

    async def scenario() -> tuple[bool, LimitExceeded | None]:
        async with asyncio.timeout(BOUND_S):
            async with await spawn(["python3", "-c", grow], policy=policy, backend=backend) as w:
                while await w.readline():
                    pass
                await w.wait(BOUND_S)
                return w.memory_exceeded(), w.limit_error()

    exceeded, error = asyncio.run(scenario())
    assert exceeded
    assert error is not None
    assert error.limit == "memory"


@pytest.mark.parametrize("backend", REAL_BACKENDS)
def test_without_cgroups_a_run_falls_back_to_rlimits(backend: str, tmp_path: Path) -> None:
    support = no_cgroups(tmp_path)
    assert support.dirs == ()
    assert support.reason is not None
    assert "no cgroup hierarchy" in support.reason
    before = our_run_cgroups() if SUPPORT.dirs else set()
    done = run(["cat", "/proc/self/cgroup"], backend=backend, cgroups=support)
    assert done.returncode == 0
    assert b"toolkernel-" not in done.stdout
    bomb = run(
        ["python3", "-c", "x = bytearray(512 * 2**20)"],
        policy=ProcessPolicy(memory_bytes=256 * MIB),
        backend=backend,
        cgroups=support,
    )
    assert b"MemoryError" in bomb.stderr  # the per-process address-space limit
    assert (our_run_cgroups() if SUPPORT.dirs else set()) == before


def test_the_finder_reads_a_v1_layout(tmp_path: Path) -> None:
    memory = tmp_path / "memory"
    (memory / "jobs" / "k1").mkdir(parents=True)
    (tmp_path / "pids").mkdir()
    (tmp_path / "cgroup").write_text("4:memory:/jobs/k1\n8:pids:/\n0::/\n")
    (tmp_path / "mountinfo").write_text(
        f"35 31 0:32 / {memory} rw,relatime - cgroup cgroup rw,memory\n"
        f"39 31 0:36 / {tmp_path / 'pids'} rw,relatime - cgroup cgroup rw,pids\n"
    )
    support = find_cgroups(tmp_path / "cgroup", tmp_path / "mountinfo")
    assert support == CgroupSupport(1, memory / "jobs" / "k1", tmp_path / "pids")


def test_the_finder_prefers_v2_with_both_controllers(tmp_path: Path) -> None:
    unified = tmp_path / "unified"
    (unified / "user.slice" / "kernel").mkdir(parents=True)
    (unified / "user.slice" / "kernel" / "cgroup.controllers").write_text("cpu memory pids\n")
    (tmp_path / "cgroup").write_text("0::/user.slice/kernel\n")
    # The mount shows the hierarchy from /user.slice down (a cgroup namespace's view).
    (tmp_path / "mountinfo").write_text(
        f"41 31 0:38 /user.slice {unified / 'user.slice'} rw - cgroup2 cgroup2 rw\n"
    )
    support = find_cgroups(tmp_path / "cgroup", tmp_path / "mountinfo")
    kernel = unified / "user.slice" / "kernel"
    assert support == CgroupSupport(2, kernel, kernel)


def test_the_join_prefix_moves_itself_then_execs(tmp_path: Path) -> None:
    files = [tmp_path / "a.procs", tmp_path / "b.procs"]
    argv = cgroup_join_argv(files, ["sh", "-c", "echo $$"])
    out = subprocess.run(argv, capture_output=True, check=True, timeout=BOUND_S).stdout
    # Same pid: the shell joined, then became the command.
    assert [f.read_text() for f in files] == [out.decode()] * 2


def test_a_failed_join_runs_nothing_and_reads_as_a_sandbox_error(tmp_path: Path) -> None:
    missing = tmp_path / "gone" / "cgroup.procs"
    argv = cgroup_join_argv([missing], ["sh", "-c", "echo ran"])
    done = subprocess.run(argv, capture_output=True, check=False, timeout=BOUND_S)
    stderr = done.stderr.decode()
    assert (done.returncode, done.stdout) == (125, b"")
    assert join_failed(done.returncode, stderr)
    assert not join_failed(125, "the command's own exit 125")
    error = join_error(stderr)
    assert isinstance(error, SandboxError)
    assert str(missing) in str(error)
    assert "could not move into its run cgroup" in str(error)
