"""The host functions the runner puts in WASI's place answer as WASI's own would.

Calls without a writable mount write through the runner's `fd_write`, on their own
thread; calls with one through WASI's own `fd_write` and stream callbacks. A module sees
the same answers either way. `random_get` is the runner's own on both paths.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from wasm_support import ECHO, RANDOM, WRITE_TO

from toolkernel_sandbox.wasm import Mount, WasmRunner

EBADF, EFAULT, EINVAL = 8, 21, 28


@pytest.fixture(scope="module")
def runner() -> Iterator[WasmRunner]:
    with WasmRunner() as shared:
        yield shared


@pytest.mark.parametrize("writable", [False, True], ids=["own fd_write", "wasi streams"])
@pytest.mark.parametrize(
    ("how", "answer"),
    [
        (b"1o", (0, b"x", b"")),
        (b"2o", (0, b"", b"x")),
        (b"0o", (EBADF, b"", b"")),
        (b"3o", (EBADF, b"", b"")),
        (b"7o", (EBADF, b"", b"")),
    ],
)
def test_each_descriptor_gets_the_same_answer_on_both_paths(
    runner: WasmRunner,
    tmp_path: Path,
    writable: bool,
    how: bytes,
    answer: tuple[int, bytes, bytes],
) -> None:
    mounts = [Mount(tmp_path, "/out", writable=writable)]
    outcome = runner.load(WRITE_TO).run(how, mounts=mounts)
    assert (outcome.exit_code, outcome.stdout, outcome.stderr) == answer
    assert list(tmp_path.iterdir()) == []


def test_a_buffer_outside_memory_is_efault(runner: WasmRunner) -> None:
    assert runner.load(WRITE_TO).run(b"1f").exit_code == EFAULT


def test_more_buffers_than_iov_max_is_einval(runner: WasmRunner) -> None:
    assert runner.load(WRITE_TO).run(b"1n").exit_code == EINVAL


def test_large_output_arrives_whole_on_both_paths(runner: WasmRunner, tmp_path: Path) -> None:
    payload = bytes(range(256)) * 2048  # 512 KiB, many writes
    echo = runner.load(ECHO)
    assert echo.run(payload).stdout == payload
    assert echo.run(payload, mounts=[Mount(tmp_path, "/out", writable=True)]).stdout == payload


@pytest.mark.parametrize("writable", [False, True], ids=["own fd_write", "wasi streams"])
def test_random_bytes_are_random_and_bounded_by_memory(
    runner: WasmRunner, tmp_path: Path, writable: bool
) -> None:
    program, mounts = runner.load(RANDOM), [Mount(tmp_path, "/out", writable=writable)]
    first, second = (program.run(b"s", mounts=mounts) for _ in range(2))
    assert (first.exit_code, second.exit_code) == (0, 0)
    assert len(first.stdout) == 16
    assert first.stdout != second.stdout
    assert program.run(b"f", mounts=mounts).exit_code == EFAULT
