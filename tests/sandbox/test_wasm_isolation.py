"""A WASM module sees only what it is granted (mounts, variables, arguments), and no call
sees anything of another: each gets a fresh instance and its own limits and output."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from wasm_support import COUNTER, ECHO, SPIN, probe_wasm

from toolkernel_sandbox import LimitExceeded, SandboxError
from toolkernel_sandbox.wasm import Mount, WasmLimits, WasmProgram, WasmRunner, WasmSlice

_WAIT_S = 30
FRESH = b"[1,1,1,1]"  # COUNTER's output from an instance that kept nothing


@pytest.fixture(scope="module")
def probe() -> Iterator[WasmProgram]:
    with WasmRunner() as runner:
        yield runner.load(probe_wasm())


def test_host_file_is_unreadable_without_a_mount(probe: WasmProgram) -> None:
    outcome = probe.run(b"", argv=["tool", "cat", "/etc/passwd"])
    assert outcome.exit_code == 2
    assert outcome.stdout == b""
    assert outcome.stderr.startswith(b"open /etc/passwd:")


def test_file_in_a_read_only_mount_can_be_read(probe: WasmProgram, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("héllo from the host")
    outcome = probe.run(
        b"", argv=["tool", "cat", "/data/notes.txt"], mounts=[Mount(tmp_path, "/data")]
    )
    assert outcome.exit_code == 0
    assert outcome.stdout.decode() == "héllo from the host"


def test_mount_does_not_expose_the_directories_around_it(
    probe: WasmProgram, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (tmp_path / "secret.txt").write_text("not for the guest")
    outcome = probe.run(
        b"", argv=["tool", "cat", "/data/../secret.txt"], mounts=[Mount(shared, "/data")]
    )
    assert outcome.exit_code == 2
    assert outcome.stdout == b""


def test_read_only_mount_refuses_writes(probe: WasmProgram, tmp_path: Path) -> None:
    outcome = probe.run(b"", argv=["tool", "write", "/out/x.txt"], mounts=[Mount(tmp_path, "/out")])
    assert outcome.exit_code == 3
    assert list(tmp_path.iterdir()) == []


def test_writable_mount_accepts_writes(probe: WasmProgram, tmp_path: Path) -> None:
    mount = Mount(tmp_path, "/out", writable=True)
    outcome = probe.run(b"", argv=["tool", "write", "/out/x.txt"], mounts=[mount])
    assert outcome.exit_code == 0
    assert (tmp_path / "x.txt").read_text() == "written by wasm"


def test_missing_mount_directory_is_reported_before_running(
    probe: WasmProgram, tmp_path: Path
) -> None:
    with pytest.raises(SandboxError, match="does not exist; create it or remove the mount"):
        probe.run(b"", argv=["tool", "env"], mounts=[Mount(tmp_path / "gone", "/data")])


def test_env_holds_only_the_declared_variables(
    probe: WasmProgram, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOOLKERNEL_TEST_SECRET", "leaked")
    outcome = probe.run(b"", argv=["tool", "env"], env={"API_URL": "https://x.test", "N": "3"})
    assert outcome.stdout.decode().splitlines() == ["API_URL=https://x.test", "N=3"]


def test_env_is_empty_unless_given(probe: WasmProgram) -> None:
    assert probe.run(b"", argv=["tool", "env"]).stdout == b""


def test_argv_is_passed_as_given(probe: WasmProgram) -> None:
    outcome = probe.run(b"", argv=["mytool", "argv", "two words", "ünï"])
    assert outcome.stdout.decode().splitlines() == ["mytool", "argv", "two words", "ünï"]


@pytest.mark.parametrize(
    ("argv", "env"),
    [(["tool", "a\0b"], {}), (["tool"], {"A=B": "1"}), (["tool"], {"": "1"})],
)
def test_unrepresentable_argv_or_env_is_refused(
    probe: WasmProgram, argv: list[str], env: dict[str, str]
) -> None:
    with pytest.raises(ValueError, match=r"NUL byte|hold no '='"):
        probe.run(b"", argv=argv, env=env)


@pytest.fixture(scope="module")
def runner() -> Iterator[WasmRunner]:
    with WasmRunner() as shared:
        yield shared


def test_each_call_starts_from_fresh_globals_memory_and_tables(runner: WasmRunner) -> None:
    counter = runner.load(COUNTER)
    assert [counter.run(b"").stdout for _ in range(5)] == [FRESH] * 5


def test_calls_tried_within_a_slice_start_fresh_too(runner: WasmRunner) -> None:
    counter = runner.load(COUNTER)
    roomy = WasmSlice(timeout_s=_WAIT_S)  # a busy machine may pause a thread for long
    outputs = [counter.run(b"", within=roomy).stdout for _ in range(5)]
    assert outputs == [FRESH] * 5


def test_calls_with_a_writable_mount_start_fresh_too(runner: WasmRunner, tmp_path: Path) -> None:
    counter = runner.load(COUNTER)
    mount = Mount(tmp_path, "/out", writable=True)
    assert [counter.run(b"", mounts=[mount]).stdout for _ in range(3)] == [FRESH] * 3


def test_the_same_program_loaded_again_shares_no_state(runner: WasmRunner) -> None:
    first, second = runner.load(COUNTER), runner.load(bytes(COUNTER))
    assert first is second
    assert (first.run(b"").stdout, second.run(b"").stdout) == (FRESH, FRESH)


def test_concurrent_calls_each_get_their_own_output(runner: WasmRunner) -> None:
    echo = runner.load(ECHO)
    inputs = [b"call %d " % i * (i % 7 + 1) for i in range(64)]

    # A roomy slice: on a busy machine eight threads may well outlast the default one.
    roomy = WasmSlice(timeout_s=_WAIT_S)

    def run(data: bytes) -> bytes:
        return echo.run(data, within=roomy if len(data) % 2 else None).stdout

    with ThreadPoolExecutor(max_workers=8) as pool:
        outputs = list(pool.map(run, inputs, timeout=_WAIT_S))
    assert outputs == inputs


def test_limits_are_each_calls_own(runner: WasmRunner) -> None:
    echo, spin = runner.load(ECHO), runner.load(SPIN)
    with pytest.raises(LimitExceeded) as capped:
        echo.run(b"x" * 100, limits=WasmLimits(stdout_bytes=10))
    assert capped.value.limit == "stdout"
    assert echo.run(b"x" * 100).stdout == b"x" * 100
    with pytest.raises(LimitExceeded) as starved:
        spin.run(b"", limits=WasmLimits(fuel=1000))
    assert starved.value.limit == "fuel"
    outcome = echo.run(b"y" * 5000, limits=WasmLimits(fuel=10**6))
    assert (outcome.stdout, outcome.fuel_used < 10**6) == (b"y" * 5000, True)


def test_a_call_stopped_by_its_limit_leaves_a_concurrent_call_whole(runner: WasmRunner) -> None:
    echo, spin = runner.load(ECHO), runner.load(SPIN)
    with ThreadPoolExecutor(max_workers=2) as pool:
        starved = pool.submit(spin.run, b"", limits=WasmLimits(fuel=50_000_000))
        echoed = [echo.run(b"%d" % i).stdout for i in range(50)]
        with pytest.raises(LimitExceeded):
            starved.result(timeout=_WAIT_S)
    assert echoed == [b"%d" % i for i in range(50)]
