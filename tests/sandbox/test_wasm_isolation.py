"""A WASM module sees only what it is granted: mounts, variables and arguments."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from wasm_support import probe_wasm

from toolkernel_sandbox import SandboxError
from toolkernel_sandbox.wasm import Mount, WasmProgram, WasmRunner


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
