"""Every WASM limit stops a module that breaks it, promptly, and names the limit."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from wasm_support import BIG_START, ECHO, GROW, SPIN, probe_wasm

from toolkernel_sandbox import LimitExceeded, TimeLimitExceeded
from toolkernel_sandbox.wasm import WasmLimits, WasmRunner

_PROMPT_S = 2.0


@pytest.fixture(scope="module")
def runner() -> Iterator[WasmRunner]:
    with WasmRunner() as shared:
        yield shared


def test_infinite_loop_is_stopped_by_fuel(runner: WasmRunner) -> None:
    began = time.monotonic()
    with pytest.raises(LimitExceeded) as caught:
        runner.load(SPIN).run(b"", limits=WasmLimits(fuel=20_000_000))
    assert time.monotonic() - began < _PROMPT_S
    assert (caught.value.limit, caught.value.value) == ("fuel", 20_000_000)
    assert not isinstance(caught.value, TimeLimitExceeded)
    assert "ran out of fuel after 20,000,000 units; raise limits.fuel" in str(caught.value)


def test_infinite_loop_with_ample_fuel_is_stopped_by_the_wall_clock(runner: WasmRunner) -> None:
    began = time.monotonic()
    with pytest.raises(TimeLimitExceeded) as caught:
        runner.load(SPIN).run(b"", limits=WasmLimits(fuel=2**62, timeout_s=0.25))
    elapsed = time.monotonic() - began
    assert 0.25 <= elapsed < _PROMPT_S
    assert (caught.value.limit, caught.value.value) == ("time", 0.25)
    assert "wall-clock limit of 0.25 s" in str(caught.value)
    assert "raise limits.timeout_s" in str(caught.value)


def test_sleep_cannot_outlast_the_wall_clock_limit(runner: WasmRunner) -> None:
    began = time.monotonic()
    with pytest.raises(TimeLimitExceeded) as caught:
        runner.load(probe_wasm()).run(b"", argv=["tool", "sleep"], limits=WasmLimits(timeout_s=0.3))
    assert 0.3 <= time.monotonic() - began < _PROMPT_S
    assert caught.value.limit == "time"


@pytest.mark.parametrize("mode", ["nap", "nap-until"])
def test_short_sleep_within_the_limit_completes(runner: WasmRunner, mode: str) -> None:
    outcome = runner.load(probe_wasm()).run(b"", argv=["tool", mode])
    assert outcome.exit_code == 0
    assert 0.02 <= outcome.elapsed_s < _PROMPT_S


def test_memory_growth_loop_is_reported_as_the_memory_limit(runner: WasmRunner) -> None:
    with pytest.raises(LimitExceeded) as caught:
        runner.load(GROW).run(b"", limits=WasmLimits(memory_bytes=4 * 2**20))
    assert (caught.value.limit, caught.value.value) == ("memory", 4 * 2**20)
    assert "limit of 4 MiB" in str(caught.value)
    assert "raise limits.memory_bytes" in str(caught.value)


def test_c_malloc_bomb_is_reported_as_the_memory_limit(runner: WasmRunner) -> None:
    program = runner.load(probe_wasm())
    with pytest.raises(LimitExceeded) as caught:
        program.run(b"", argv=["tool", "eat"], limits=WasmLimits(memory_bytes=16 * 2**20))
    assert caught.value.limit == "memory"
    assert "exited with code 1" in str(caught.value)
    assert caught.value.stderr.startswith("out of memory after")


def test_module_needing_more_memory_than_allowed_is_refused_before_it_runs(
    runner: WasmRunner,
) -> None:
    program = runner.load(BIG_START)  # 100 pages: 6,553,600 bytes at start
    with pytest.raises(LimitExceeded, match="at least 6,553,600") as caught:
        program.run(b"", limits=WasmLimits(memory_bytes=2**20))
    assert caught.value.limit == "memory"
    assert program.run(b"").exit_code == 0


def test_output_flood_is_capped_and_stopped_quickly(runner: WasmRunner) -> None:
    limits = WasmLimits(stdout_bytes=64 * 2**10, timeout_s=30)
    began = time.monotonic()
    with pytest.raises(LimitExceeded) as caught:
        runner.load(probe_wasm()).run(b"", argv=["tool", "flood"], limits=limits)
    assert time.monotonic() - began < _PROMPT_S
    assert (caught.value.limit, caught.value.value) == ("stdout", 64 * 2**10)
    assert "more than 64 KiB to stdout and was stopped; raise limits.stdout_bytes" in str(
        caught.value
    )


def test_stderr_flood_is_capped_and_stopped_quickly(runner: WasmRunner) -> None:
    limits = WasmLimits(stderr_bytes=1000, timeout_s=30)
    began = time.monotonic()
    with pytest.raises(LimitExceeded) as caught:
        runner.load(probe_wasm()).run(b"", argv=["tool", "shout"], limits=limits)
    assert time.monotonic() - began < _PROMPT_S
    assert caught.value.limit == "stderr"
    assert len(caught.value.stderr) == 1000


def test_output_exactly_at_its_cap_is_kept_whole(runner: WasmRunner) -> None:
    outcome = runner.load(ECHO).run(b"x" * 100, limits=WasmLimits(stdout_bytes=100))
    assert outcome.stdout == b"x" * 100


def test_output_one_byte_over_its_cap_fails_even_when_the_module_exits_cleanly(
    runner: WasmRunner,
) -> None:
    with pytest.raises(LimitExceeded) as caught:
        runner.load(ECHO).run(b"x" * 101, limits=WasmLimits(stdout_bytes=100))
    assert caught.value.limit == "stdout"


def test_default_limits_are_all_set() -> None:
    limits = WasmLimits()
    assert limits.fuel == 10_000_000_000
    assert limits.memory_bytes == 256 * 2**20
    assert limits.timeout_s == 10.0
    assert (limits.stdout_bytes, limits.stderr_bytes) == (4 * 2**20, 64 * 2**10)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("fuel", 0),
        ("fuel", -1),
        ("fuel", 1.5),
        ("fuel", True),
        ("fuel", 2**64),
        ("memory_bytes", 0),
        ("memory_bytes", "256M"),
        ("stdout_bytes", -5),
        ("stderr_bytes", 0),
        ("table_elements", 0),
        ("timeout_s", 0),
        ("timeout_s", -1.0),
        ("timeout_s", float("inf")),
        ("timeout_s", float("nan")),
        ("timeout_s", "10"),
    ],
)
def test_invalid_limits_are_refused_with_the_field_named(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"WasmLimits\.{field} must be"):
        WasmLimits(**{field: value})  # type: ignore[arg-type]


def test_whole_seconds_are_a_valid_timeout() -> None:
    assert WasmLimits(timeout_s=3).timeout_s == 3
