"""Spares: a run starts in a process that already joined a fresh cgroup, and is still
limited, isolated and alone there."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from process_support import REAL_BACKENDS

from toolkernel_sandbox import LimitExceeded, SandboxError
from toolkernel_sandbox.process import (
    CgroupSupport,
    ProcessPolicy,
    cgroup_support,
    run,
    spawn,
)
from toolkernel_sandbox.process import _spares as spares
from toolkernel_sandbox.process._backends import Launch, UnsandboxedWarning

MIB = 2**20
READY_S = 30
SUPPORT = cgroup_support()
pytestmark = pytest.mark.skipif(
    SUPPORT.memory is None, reason=f"no memory cgroup here: {SUPPORT.reason}"
)
# What a run sees of itself: its memory cgroup's name, its open descriptors (3 is the
# listing itself), its environment's names.
SELF = (
    "import json, os, pathlib; "
    "line = [l for l in open('/proc/self/cgroup') "
    "if 'memory' in l.split(':')[1].split(',') or l.startswith('0::')][0]; "
    "print(json.dumps([pathlib.Path(line.strip().split(':', 2)[2]).name, "
    "sorted(os.listdir('/proc/self/fd')), sorted(os.environ)]))"
)


def spare_cgroups() -> set[str]:
    prefix = f"toolkernel-spare-{os.getpid()}-"
    return {p.name for d in SUPPORT.dirs for p in d.iterdir() if p.name.startswith(prefix)}


def unsandboxed(command: list[str], policy: ProcessPolicy) -> str:
    # The rlimits backend shares the host's /proc view, so the run sees its real cgroup.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsandboxedWarning)
        return run(command, policy=policy, backend="rlimits").stdout.decode()


def test_a_ready_spare_takes_the_run_limited_and_alone() -> None:
    assert spares.spare_ready(READY_S), "no spare was made"
    (waiting,) = spare_cgroups()
    policy = ProcessPolicy(memory_bytes=96 * MIB, processes=40, env={"ONLY": "this"})
    cgroup, fds, env = json.loads(unsandboxed(["python3", "-c", SELF], policy))
    # It ran in the spare's cgroup.
    assert cgroup == waiting
    # Nothing of the spare is left open in it, and nothing of the host's environment.
    assert fds == ["0", "1", "2", "3"]
    assert env == ["HOME", "LANG", "ONLY", "PATH", "TMPDIR"]
    # The cgroup went with the run; the next spare has a new one.
    assert waiting not in spare_cgroups()
    assert spares.spare_ready(READY_S)
    assert waiting not in spare_cgroups()


def test_the_run_gets_its_own_totals_not_the_spares() -> None:
    limit_file = "memory.max" if SUPPORT.version == 2 else "memory.limit_in_bytes"
    script = (
        "import sys; from pathlib import Path; "
        "line = [l for l in open('/proc/self/cgroup') "
        "if 'memory' in l.split(':')[1].split(',') or l.startswith('0::')][0]; "
        "name = Path(line.strip().split(':', 2)[2]).name; "
        "print(name, (Path(sys.argv[1]) / name / sys.argv[2]).read_text().strip())"
    )
    command = ["python3", "-c", script, str(SUPPORT.memory), limit_file]
    assert spares.spare_ready(READY_S)
    name, limit = unsandboxed(command, ProcessPolicy(memory_bytes=80 * MIB)).split()
    assert name.startswith("toolkernel-spare-")
    assert int(limit) == 80 * MIB


@pytest.mark.parametrize("backend", REAL_BACKENDS)
def test_runs_served_by_spares_keep_every_limit(backend: str) -> None:
    for _ in range(3):
        assert spares.spare_ready(READY_S)
        done = run(["sh", "-c", "echo ok; exit 3"], backend=backend)
        assert (done.returncode, done.stdout) == (3, b"ok\n")
    assert spares.spare_ready(READY_S)
    with pytest.raises(LimitExceeded, match="stdout"):
        run(["sh", "-c", "yes"], policy=ProcessPolicy(stdout_bytes=4096), backend=backend)


def test_a_worker_started_from_a_spare_speaks_over_its_pipes() -> None:
    async def converse() -> tuple[bytes, int]:
        process = await spawn(["sh", "-c", "read line; echo got $line; exit 4"])
        async with process:
            process.write(b"hello\n")
            await process.drain()
            line = await process.readline()
            return line, await process.wait(READY_S)

    assert spares.spare_ready(READY_S)
    assert asyncio.run(converse()) == (b"got hello\n", 4)


def test_a_spare_that_cannot_exec_says_so() -> None:
    spare = spares._make(SUPPORT)
    launch = Launch("bwrap", ["/nonexistent/bwrap", "--version"], {"PATH": "/usr/bin"}, None)
    popen = spare.start(launch, ProcessPolicy())
    _, stderr = popen.communicate(timeout=READY_S)
    spare.cgroup.close()
    error = spares.exec_error("bwrap", popen.returncode, stderr.decode())
    assert isinstance(error, SandboxError)
    assert "could not start the bwrap sandbox" in str(error)
    assert "No such file or directory" in str(error)
    # A command that merely exits 127 is not taken for it.
    assert spares.exec_error("bwrap", 127, "sh: 1: nope: not found") is None


def test_a_spare_let_go_unused_leaves_nothing() -> None:
    before = spare_cgroups()
    spare = spares._make(SUPPORT)
    pid = spare.popen.pid
    spare.discard()
    assert spare.popen.returncode == 0  # it saw end of file and exited on its own
    assert not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/cmdline").read_bytes() == b""
    assert spare_cgroups() == before


def test_spares_can_be_turned_off() -> None:
    code = (
        "from toolkernel_sandbox.process import _spares\n"
        "print(_spares.spare_ready(5), _spares.claim_spare(None))\n"
    )
    env = {**os.environ, spares.SPARES_VARIABLE: "0"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=READY_S,
        check=False,
    )
    assert done.stdout.split() == ["False", "None"], done.stderr


def test_a_forked_child_does_not_use_its_parents_spares() -> None:
    assert spares.spare_ready(READY_S)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's spare is not its own to use
        os.close(read)
        os.write(write, b"none" if spares._POOL._ready == [] else b"some")
        os._exit(0)
    os.close(write)
    seen = os.read(read, 8)
    os.close(read)
    os.waitpid(pid, 0)
    assert seen == b"none"
    # And the parent's spare is still whole: it serves the next run.
    assert run(["echo", "still"], backend="bwrap").stdout == b"still\n"


def test_a_run_from_a_spare_ignores_what_a_direct_run_ignores() -> None:
    # Python ignores SIGPIPE and SIGXFSZ, and an ignored signal survives exec: a file
    # over its size limit would then fail with EFBIG instead of stopping the writer.
    # (What this test process inherited ignored, a direct run inherits too.)
    def ignored(cgroups: CgroupSupport | None) -> int:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnsandboxedWarning)
            done = run(["grep", "SigIgn", "/proc/self/status"], backend="rlimits", cgroups=cgroups)
        return int(done.stdout.split()[1], 16)

    assert spares.spare_ready(READY_S)
    from_spare = ignored(None)
    direct = ignored(CgroupSupport(reason="a direct start, for comparison"))
    assert from_spare == direct
    for signal_number in (signal.SIGPIPE, signal.SIGXFSZ):
        assert not from_spare & (1 << (signal_number - 1)), signal_number


def test_cgroups_left_by_a_host_that_is_gone_are_removed_at_start() -> None:
    from toolkernel_sandbox.process._cgroups import remove_stale

    child = subprocess.Popen(["true"])
    child.wait()  # reaped: its pid names no process now
    dead_pid = child.pid
    parent = SUPPORT.dirs[0]
    stale = [parent / f"toolkernel-{dead_pid}-1-aa", parent / f"toolkernel-spare-{dead_pid}-2-bb"]
    alive = parent / f"toolkernel-{os.getppid()}-3-cc"  # a live host's: never touched
    for path in (*stale, alive):
        path.mkdir()
    try:
        removed = remove_stale(parent)
        assert sorted(removed) == sorted(p.name for p in stale)
        assert not any(p.exists() for p in stale)
        assert alive.is_dir()
    finally:
        for path in (*stale, alive):
            if path.exists():
                path.rmdir()
