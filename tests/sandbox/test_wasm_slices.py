"""A call tried within a `WasmSlice`: it ends there, or is given up whole, or hits a limit.

A slice is how a caller that must not block for long (the tool host's event loop) tries
a short call where it stands. Outgrowing the slice (its fuel, its time, any wait) is not
a failure of the code: `SliceExhausted` says to run the call again without a slice.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from wasm_support import CONSTANT, ECHO, RANDOM, SPIN, UNREACHABLE, probe_wasm

from toolkernel_sandbox import (
    LimitExceeded,
    SandboxError,
    SliceExhausted,
    TimeLimitExceeded,
)
from toolkernel_sandbox.wasm import Mount, WasmLimits, WasmRunner, WasmSlice

_PROMPT_S = 2.0
# Where the slice's wall-clock time is not the point: a busy machine may pause a thread
# for longer than the default slice.
ROOMY = WasmSlice(timeout_s=30)


@pytest.fixture(scope="module")
def runner() -> Iterator[WasmRunner]:
    with WasmRunner() as shared:
        yield shared


def test_a_short_call_ends_within_its_slice_with_its_output(runner: WasmRunner) -> None:
    outcome = runner.load(ECHO).run(b'{"n": 1}', within=ROOMY)
    assert (outcome.exit_code, outcome.stdout) == (0, b'{"n": 1}')
    assert outcome.fuel_used < ROOMY.fuel


def test_a_call_needing_more_fuel_than_its_slice_is_given_up(runner: WasmRunner) -> None:
    with pytest.raises(SliceExhausted, match="used up the slice's 100,000 units of fuel"):
        runner.load(SPIN).run(b"", within=WasmSlice(fuel=100_000))


def test_a_call_needing_more_time_than_its_slice_is_given_up(runner: WasmRunner) -> None:
    began = time.monotonic()
    with pytest.raises(SliceExhausted, match="outgrew the slice's time"):
        runner.load(SPIN).run(b"", within=WasmSlice(fuel=2**62, timeout_s=0.02))
    assert time.monotonic() - began < _PROMPT_S


def test_a_call_that_wants_to_sleep_is_given_up_at_once(runner: WasmRunner) -> None:
    began = time.monotonic()
    with pytest.raises(SliceExhausted, match="wanted to wait"):
        runner.load(probe_wasm()).run(b"", argv=["tool", "sleep"], within=ROOMY)
    assert time.monotonic() - began < _PROMPT_S


def test_a_call_writing_more_than_the_slice_s_bytes_is_given_up(runner: WasmRunner) -> None:
    payload = b"x" * (2 * ROOMY.io_bytes)
    with pytest.raises(SliceExhausted, match="I/O bytes"):
        runner.load(ECHO).run(payload, within=ROOMY)
    assert runner.load(ECHO).run(payload).stdout == payload


def test_a_call_asking_for_more_random_bytes_than_the_slice_is_given_up(
    runner: WasmRunner,
) -> None:
    program = runner.load(RANDOM)
    with pytest.raises(SliceExhausted, match="I/O bytes"):
        program.run(b"b", within=ROOMY)
    assert program.run(b"b").exit_code == 0


def test_the_same_call_runs_whole_without_a_slice(runner: WasmRunner) -> None:
    program = runner.load(probe_wasm())
    with pytest.raises(SliceExhausted):
        program.run(b"", argv=["tool", "nap"], within=ROOMY)
    outcome = program.run(b"", argv=["tool", "nap"])
    assert outcome.exit_code == 0
    assert outcome.elapsed_s >= 0.02


def test_a_fuel_limit_below_the_slice_is_reported_as_the_limit(runner: WasmRunner) -> None:
    with pytest.raises(LimitExceeded) as caught:
        runner.load(SPIN).run(b"", limits=WasmLimits(fuel=5000), within=ROOMY)
    assert not isinstance(caught.value, SliceExhausted)
    assert (caught.value.limit, caught.value.value) == ("fuel", 5000)


def test_a_time_limit_below_the_slice_is_reported_as_the_limit(runner: WasmRunner) -> None:
    limits = WasmLimits(fuel=2**62, timeout_s=0.05)
    with pytest.raises(TimeLimitExceeded):
        runner.load(SPIN).run(b"", limits=limits, within=WasmSlice(fuel=2**62, timeout_s=5))


def test_an_output_cap_hit_within_the_slice_is_reported_as_the_limit(runner: WasmRunner) -> None:
    limits = WasmLimits(stdout_bytes=4)
    with pytest.raises(LimitExceeded) as caught:
        runner.load(CONSTANT).run(b"", limits=limits, within=ROOMY)
    assert caught.value.limit == "stdout"


def test_a_trap_within_the_slice_is_reported_as_a_trap(runner: WasmRunner) -> None:
    with pytest.raises(SandboxError, match="the tool trapped: wasm trap") as caught:
        runner.load(UNREACHABLE).run(b"", within=ROOMY)
    assert not isinstance(caught.value, SliceExhausted)


def test_a_call_with_mounts_cannot_be_sliced(runner: WasmRunner, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mounts cannot be tried within a slice"):
        runner.load(ECHO).run(b"", mounts=[Mount(tmp_path, "/data")], within=WasmSlice())


@pytest.mark.parametrize(("field", "value"), [("fuel", 0), ("fuel", True), ("timeout_s", -1.0)])
def test_invalid_slices_are_refused_with_the_field_named(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"WasmSlice.{field} must be"):
        WasmSlice(**{field: value})  # type: ignore[arg-type]
