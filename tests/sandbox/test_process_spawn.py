"""`spawn`: long-lived sandboxed workers on an asyncio loop, under real backends."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from process_support import REAL_BACKENDS, processes_running

from toolkernel_sandbox import LimitExceeded, TimeLimitExceeded
from toolkernel_sandbox.process import ProcessPolicy, SandboxedProcess, spawn

# Answers each stdin line with it upper-cased, and notes it on stderr.
WORKER = """
import sys
for line in sys.stdin:
    sys.stdout.write(line.upper())
    sys.stdout.flush()
    print("seen", line.strip(), file=sys.stderr, flush=True)
"""
BOUND_S = 10


async def ask(worker: SandboxedProcess, line: bytes) -> bytes:
    worker.write(line)
    await worker.drain()
    return await worker.readline()


@pytest.mark.parametrize("backend", REAL_BACKENDS)
def test_a_worker_answers_many_requests_then_exits_on_eof(backend: str) -> None:
    async def scenario() -> tuple[list[bytes], int, str]:
        async with asyncio.timeout(BOUND_S):
            async with await spawn(["python3", "-c", WORKER], backend=backend) as worker:
                answers = [await ask(worker, f"req{i}\n".encode()) for i in range(3)]
                worker.close_stdin()
                assert await worker.readline() == b""
                code = await worker.wait(BOUND_S)
                return answers, code, worker.stderr_tail()

    answers, code, tail = asyncio.run(scenario())
    assert answers == [b"REQ0\n", b"REQ1\n", b"REQ2\n"]
    assert code == 0
    assert tail == "seen req0\nseen req1\nseen req2\n"


def test_a_line_longer_than_the_cap_kills_the_worker() -> None:
    policy = ProcessPolicy(stdout_bytes=1000)

    async def scenario() -> int:
        async with asyncio.timeout(BOUND_S):
            # It stays alive after the long line (reading its stdin), so only the kill
            # can end it: a worker that had exited by itself would say nothing.
            code = "import sys; print('x' * 5000, flush=True); sys.stdin.read()"
            worker = await spawn(["python3", "-c", code], policy=policy)
            async with worker:
                with pytest.raises(LimitExceeded, match="longer than 1000 bytes") as caught:
                    await worker.readline()
                assert caught.value.limit == "stdout"
                return await worker.wait(BOUND_S)

    assert asyncio.run(scenario()) != 0


def test_a_worker_that_does_not_exit_in_time_is_killed_with_its_children() -> None:
    token = f"{uuid.uuid4().int % 10**6}.{uuid.uuid4().int % 10**3 + 1}"

    async def scenario() -> None:
        async with asyncio.timeout(BOUND_S):
            worker = await spawn(["bash", "-c", f"sleep 1{token} & echo up; wait"])
            assert await worker.readline() == b"up\n"
            with pytest.raises(TimeLimitExceeded) as caught:
                await worker.wait(0.2)
            assert (caught.value.limit, worker.returncode is not None) == ("time", True)

    asyncio.run(scenario())
    assert processes_running(token) == []


def test_leaving_the_context_kills_a_running_worker() -> None:
    token = f"{uuid.uuid4().int % 10**6}.{uuid.uuid4().int % 10**3 + 1}"

    async def scenario() -> int | None:
        async with asyncio.timeout(BOUND_S):
            async with await spawn(["bash", "-c", f"echo up; exec sleep 1{token}"]) as worker:
                assert await worker.readline() == b"up\n"
            return worker.returncode

    assert asyncio.run(scenario()) is not None
    assert processes_running(token) == []


def test_only_the_tail_of_stderr_is_kept() -> None:
    policy = ProcessPolicy(stderr_bytes=100)
    script = "import sys\nfor i in range(1000): print(i, file=sys.stderr)"

    async def scenario() -> str:
        async with asyncio.timeout(BOUND_S):
            worker = await spawn(["python3", "-c", script], policy=policy)
            await worker.wait(BOUND_S)
            return worker.stderr_tail()

    tail = asyncio.run(scenario())
    assert len(tail) == 100
    assert tail.endswith("998\n999\n")
