"""Compiled modules are cached on disk, shared between runners, and never trusted blindly."""

from __future__ import annotations

import hashlib
from importlib.metadata import version
from pathlib import Path

from wasm_support import ECHO

from toolkernel_sandbox.wasm import WasmRunner

_SHA = hashlib.sha256(ECHO).hexdigest()


def _load_and_echo(cache_dir: Path) -> int:
    """Load ECHO in a fresh runner, check it works, and return how many it compiled."""
    with WasmRunner(cache_dir=cache_dir) as runner:
        assert runner.load(ECHO).run(b"ping").stdout == b"ping"
        return runner.compiled_count


def _cache_file(cache_dir: Path) -> Path:
    with WasmRunner(cache_dir=cache_dir) as runner:
        path = runner.cache_file(_SHA)
    assert path is not None
    return path


def test_second_runner_loads_from_the_cache_without_compiling(tmp_path: Path) -> None:
    assert _load_and_echo(tmp_path) == 1
    cached = _cache_file(tmp_path)
    written = cached.stat().st_mtime_ns
    assert _load_and_echo(tmp_path) == 0
    assert cached.stat().st_mtime_ns == written


def test_cache_file_is_named_by_module_hash_and_wasmtime_version(tmp_path: Path) -> None:
    _load_and_echo(tmp_path)
    (cached,) = tmp_path.iterdir()
    assert cached.name.startswith(_SHA)
    assert f"wasmtime{version('wasmtime')}" in cached.name
    assert cached == _cache_file(tmp_path)


def test_damaged_cache_file_is_recompiled_and_rewritten(tmp_path: Path) -> None:
    _load_and_echo(tmp_path)
    cached = _cache_file(tmp_path)
    data = bytearray(cached.read_bytes())
    data[len(data) // 2] ^= 0xFF
    cached.write_bytes(bytes(data))
    assert _load_and_echo(tmp_path) == 1
    assert _load_and_echo(tmp_path) == 0


def test_truncated_or_foreign_cache_file_is_recompiled(tmp_path: Path) -> None:
    _load_and_echo(tmp_path)
    cached = _cache_file(tmp_path)
    cached.write_bytes(cached.read_bytes()[:100])
    assert _load_and_echo(tmp_path) == 1
    cached.write_bytes(b"not a compiled module")
    assert _load_and_echo(tmp_path) == 1
    assert _load_and_echo(tmp_path) == 0


def test_no_temporary_files_are_left_behind(tmp_path: Path) -> None:
    _load_and_echo(tmp_path)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_unwritable_cache_directory_does_not_fail_a_load(tmp_path: Path) -> None:
    blocker = tmp_path / "file-in-the-way"
    blocker.write_text("a file where the cache directory should be")
    assert _load_and_echo(blocker / "cache") == 1


def test_runner_without_cache_directory_compiles_in_memory_only(tmp_path: Path) -> None:
    with WasmRunner() as runner:
        runner.load(ECHO)
        runner.load(ECHO)
        assert runner.compiled_count == 1
        assert runner.cache_file(_SHA) is None
