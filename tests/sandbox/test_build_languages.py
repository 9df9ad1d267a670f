"""Real builds in each language, run with wasmtime: {"limit": 20} -> the primes to 20."""

from __future__ import annotations

from pathlib import Path

import pytest
from build_support import (
    PRIMES_C,
    PRIMES_RS,
    PRIMES_TO_20,
    PRIMES_ZIG,
    run_wasm,
    toolchain_or_skip,
)

from toolkernel_sandbox import BuildError
from toolkernel_sandbox.build import build

ARGS = b'{"limit": 20}'


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Compiler caches kept across sessions: zig's first libc build takes ~30 s."""
    path = tmp_path_factory.getbasetemp().parent / "toolkernel-build-cache"
    path.mkdir(exist_ok=True)
    return path


def test_c_with_clang_builds_a_working_command(tmp_path: Path) -> None:
    toolchain = toolchain_or_skip("c")
    if toolchain.kind != "clang":
        pytest.skip("clang with wasi-libc is not installed (zig cc is tested apart)")
    lines: list[str] = []
    wasm = build("c", PRIMES_C, work_dir=tmp_path / "w", on_line=lines.append)
    assert run_wasm(wasm, ARGS, tmp_path) == (0, PRIMES_TO_20 + b"\n")
    assert lines == []  # a clean compile prints nothing


def test_c_with_zig_cc_builds_a_working_command(tmp_path: Path, cache_dir: Path) -> None:
    zig = toolchain_or_skip("zig")
    assert zig.compiler is not None
    # Searching only zig's own directory leaves zig cc as the one C compiler.
    toolchain = toolchain_or_skip("c", path=str(zig.compiler.parent))
    assert toolchain.kind == "zig-cc"
    wasm = build("c", PRIMES_C, work_dir=tmp_path / "w", cache_dir=cache_dir, toolchain=toolchain)
    assert run_wasm(wasm, ARGS, tmp_path) == (0, PRIMES_TO_20 + b"\n")


def test_zig_builds_a_working_command(tmp_path: Path, cache_dir: Path) -> None:
    toolchain_or_skip("zig")
    wasm = build("zig", PRIMES_ZIG, work_dir=tmp_path / "w", cache_dir=cache_dir)
    assert run_wasm(wasm, ARGS, tmp_path) == (0, PRIMES_TO_20)


@pytest.mark.timeout(300)
def test_rust_with_serde_json_from_the_vendored_registry(tmp_path: Path, cache_dir: Path) -> None:
    toolchain = toolchain_or_skip("rust")
    if toolchain.registry is None:
        pytest.skip("no vendored crates (apt-get install librust-serde-json-dev)")
    lines: list[str] = []
    wasm = build(
        "rust",
        PRIMES_RS,
        work_dir=tmp_path / "w",
        cache_dir=cache_dir,
        on_line=lines.append,
        timeout_s=240,
    )
    assert run_wasm(wasm, ARGS, tmp_path) == (0, PRIMES_TO_20 + b"\n")
    # Progress streamed while cargo ran, with the build dir shown relative.
    assert any(line.strip().startswith("Compiling tool") for line in lines)
    assert not [line for line in lines if str(tmp_path) in line]


def test_rust_from_files_uses_the_given_cargo_toml(tmp_path: Path, cache_dir: Path) -> None:
    toolchain_or_skip("rust")
    files = {
        "Cargo.toml": '[package]\nname = "hello-tool"\nversion = "0.1.0"\nedition = "2021"\n',
        "src/main.rs": 'fn main() { println!("[1]"); }\n',
    }
    wasm = build("rust", files, work_dir=tmp_path / "w", cache_dir=cache_dir)
    assert run_wasm(wasm, ARGS, tmp_path) == (0, b"[1]\n")


def test_wat_assembles_in_process(tmp_path: Path) -> None:
    wat = """
    (module
      (import "wasi_snapshot_preview1" "fd_write"
        (func $write (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 64) "[2,3]")
      (func (export "_start")
        (i32.store (i32.const 0) (i32.const 64))
        (i32.store (i32.const 4) (i32.const 5))
        (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
    """
    wasm = build("wat", wat, work_dir=tmp_path / "w")
    assert run_wasm(wasm, ARGS, tmp_path) == (0, b"[2,3]")


def test_a_finished_module_passes_through_unchanged(tmp_path: Path) -> None:
    module = build("wat", "(module)", work_dir=tmp_path)
    assert build("wasm", module, work_dir=tmp_path) == module


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        (b"\x7fELF\x02\x01\x01", "not a WebAssembly module"),
        (b"\0asm\x01\0\0\0\x01\xff", "module is invalid"),
        ("AGFzbQEAAAA=", "must be given as bytes"),
    ],
)
def test_a_bad_module_is_refused(tmp_path: Path, given: object, reason: str) -> None:
    with pytest.raises(BuildError, match=reason) as caught:
        build("wasm", given, work_dir=tmp_path)  # type: ignore[arg-type]
    assert caught.value.language == "wasm"
