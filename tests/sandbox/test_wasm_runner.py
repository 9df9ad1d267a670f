"""The WASM runner's contract: bytes in on stdin, bytes out, exit codes, traps, loading."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import wasmtime
from wasm_support import (
    CONSTANT,
    ECHO,
    EXIT_7,
    FOREIGN_IMPORT,
    NO_START,
    POLL_STDIN,
    SPIN,
    UNREACHABLE,
    probe_wasm,
)

import toolkernel_sandbox.wasm
from toolkernel_sandbox import SandboxError, TimeLimitExceeded
from toolkernel_sandbox.wasm import WasmLimits, WasmOutcome, WasmRunner

_WAIT_S = 30


@pytest.fixture(scope="module")
def runner() -> Iterator[WasmRunner]:
    with WasmRunner() as shared:
        yield shared


def test_exported_members() -> None:
    assert toolkernel_sandbox.wasm.__all__ == [
        "Mount",
        "WasmLimits",
        "WasmOutcome",
        "WasmProgram",
        "WasmRunner",
        "WasmSlice",
    ]


def test_stdin_round_trips_to_stdout(runner: WasmRunner) -> None:
    outcome = runner.load(ECHO).run(b'{"n": 3, "items": [1, 2, 3]}')
    assert outcome.exit_code == 0
    assert outcome.stdout == b'{"n": 3, "items": [1, 2, 3]}'
    assert outcome.stderr == b""


def test_utf8_round_trips_unchanged(runner: WasmRunner) -> None:
    text = '{"greeting": "grüß dich, 世界 🎉🧪"}'
    outcome = runner.load(ECHO).run(text.encode())
    assert outcome.stdout.decode("utf-8") == text


def test_large_stdin_round_trips(runner: WasmRunner) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB, many read calls
    assert runner.load(ECHO).run(payload).stdout == payload


def test_empty_stdin_gives_empty_stdout(runner: WasmRunner) -> None:
    outcome = runner.load(ECHO).run(b"")
    assert (outcome.exit_code, outcome.stdout) == (0, b"")


def test_outcome_reports_fuel_used_and_elapsed_time(runner: WasmRunner) -> None:
    outcome = runner.load(CONSTANT).run(b"{}")
    assert outcome.stdout == b'{"ok":true}'
    assert 0 < outcome.fuel_used < 1_000
    assert 0 < outcome.elapsed_s < 5


def test_proc_exit_is_a_normal_exit_with_its_code(runner: WasmRunner) -> None:
    outcome = runner.load(EXIT_7).run(b"")
    assert isinstance(outcome, WasmOutcome)
    assert outcome.exit_code == 7


def test_polling_stdin_reports_it_ready_at_once(runner: WasmRunner) -> None:
    assert runner.load(POLL_STDIN).run(b"{}").exit_code == 111


def test_nonzero_exit_gives_exit_code_and_stderr(runner: WasmRunner) -> None:
    outcome = runner.load(probe_wasm()).run(b"{}", argv=["tool", "fail"])
    assert outcome.exit_code == 3
    assert outcome.stderr == b"bad input: expected n\n"
    assert outcome.stdout == b""


def test_trap_becomes_sandbox_error_quoting_its_cause(runner: WasmRunner) -> None:
    with pytest.raises(SandboxError, match="unreachable") as caught:
        runner.load(UNREACHABLE).run(b"")
    assert "fix the tool's code" in str(caught.value)
    assert isinstance(caught.value.__cause__, wasmtime.Trap)


def test_loading_the_same_bytes_twice_gives_the_same_program(runner: WasmRunner) -> None:
    first, second = runner.load(ECHO), runner.load(bytes(ECHO))
    assert first is second
    assert len(first.sha256) == 64


def test_module_without_start_is_refused(runner: WasmRunner) -> None:
    with pytest.raises(SandboxError, match=r"no `_start` function.*not a WASI command"):
        runner.load(NO_START)


def test_module_importing_beyond_wasi_is_refused(runner: WasmRunner) -> None:
    with pytest.raises(SandboxError, match=r"imports env\.host_secret.*only WASI"):
        runner.load(FOREIGN_IMPORT)


def test_bytes_that_are_not_webassembly_are_refused(runner: WasmRunner) -> None:
    with pytest.raises(SandboxError, match="not valid WebAssembly") as caught:
        runner.load(b"\0asm\x01\0\0\0garbage")
    assert isinstance(caught.value.__cause__, wasmtime.WasmtimeError)


def test_concurrent_runs_from_four_threads_all_succeed(runner: WasmRunner) -> None:
    program = runner.load(ECHO)
    inputs = [f'{{"call": {i}}}'.encode() for i in range(40)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        outputs = list(pool.map(lambda data: program.run(data).stdout, inputs, timeout=_WAIT_S))
    assert outputs == inputs


def test_a_call_hitting_its_timeout_leaves_concurrent_calls_alone(runner: WasmRunner) -> None:
    spin, echo = runner.load(SPIN), runner.load(ECHO)
    limits = WasmLimits(fuel=2**62, timeout_s=0.3)
    with ThreadPoolExecutor(max_workers=2) as pool:
        stuck = pool.submit(spin.run, b"", limits=limits)
        echoed = [echo.run(b"%d" % i).stdout for i in range(50)]
        with pytest.raises(TimeLimitExceeded):
            stuck.result(timeout=_WAIT_S)
    assert echoed == [b"%d" % i for i in range(50)]


def test_closed_runner_refuses_loads_and_runs() -> None:
    runner = WasmRunner()
    program = runner.load(CONSTANT)
    runner.close()
    with pytest.raises(SandboxError, match="closed; create a new WasmRunner"):
        program.run(b"")
    with pytest.raises(SandboxError, match="closed; create a new WasmRunner"):
        runner.load(ECHO)


def test_close_ends_the_epoch_ticker_thread() -> None:
    before = set(threading.enumerate())
    runner = WasmRunner()
    runner.load(CONSTANT).run(b"")
    started = [t for t in threading.enumerate() if t not in before]
    assert [t.name for t in started] == ["toolkernel-wasm-epoch"]
    runner.close()
    assert not started[0].is_alive()


def test_idle_runner_starts_no_thread() -> None:
    before = set(threading.enumerate())
    with WasmRunner() as runner:
        runner.load(CONSTANT)
        assert set(threading.enumerate()) == before
