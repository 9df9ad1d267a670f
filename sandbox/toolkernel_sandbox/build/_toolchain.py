"""Finding a compiler that targets WASI for each language, or saying what to install."""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from toolkernel_sandbox._errors import ToolchainMissing
from toolkernel_sandbox.build._rust import find_rust

__all__ = ["INSTALL", "LANGUAGES", "Toolchain", "find_toolchain"]

#: The languages `build` accepts. `wasm` is a finished module; `wat` its text form.
LANGUAGES = ("c", "rust", "wasm", "wat", "zig")

#: The command that installs each language's toolchain (Debian/Ubuntu, or pip).
INSTALL = MappingProxyType(
    {
        "c": "apt-get install clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32",
        "rust": "apt-get install rustc cargo libstd-rust-dev-wasm32",
        "zig": "pip install 'toolkernel[wasm]'",
    }
)
_ALTERNATIVE = {
    "c": "or `pip install 'toolkernel[wasm]'` to compile with zig cc",
    "rust": "or, with rustup, `rustup target add wasm32-wasip1`",
    "zig": "which installs the `ziglang` package",
}
_CLANG_NAMES = (*(f"clang-{v}" for v in range(24, 13, -1)), "clang")


@dataclass(frozen=True)
class Toolchain:
    """A compiler able to build WASI command modules, and what the sandbox must show.

    Attributes:
        language: One of `LANGUAGES`.
        kind: `clang`, `zig-cc`, `zig`, `cargo`, or `wasmtime` (wat and wasm, in process).
        compiler: The program to run; None for the in-process kinds.
        target: The WASI target triple (`wasm32-wasi`, or `wasm32-wasip1` for newer Rust).
        read_only: Host directories the compiler needs, shown read-only in the sandbox.
        env: Variables the compiler needs (such as `RUSTC`), on top of the sandbox's.
        registry: For cargo: a directory of vendored crates (Debian's
            `/usr/share/cargo/registry`) used in place of crates.io, or None.
    """

    language: str
    kind: str
    compiler: Path | None = None
    target: str = "wasm32-wasi"
    read_only: tuple[Path, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    registry: Path | None = None


def find_toolchain(
    language: str,
    *,
    path: str | None = None,
    registry: Path = Path("/usr/share/cargo/registry"),
) -> Toolchain:
    """The toolchain that builds `language` here.

    C prefers clang with wasi-libc (Debian's `clang-14 --target=wasm32-wasi`), then
    `zig cc`. Rust takes the first `rustc` on the path whose sysroot has the
    `wasm32-wasip1` or `wasm32-wasi` standard library, and that sysroot's cargo.

    Args:
        language: One of `LANGUAGES`.
        path: Where to look for compilers, as a `PATH`-style string. By default
            `$PATH`, then `/usr/bin`, then the `ziglang` Python package; when given,
            only these directories are searched.
        registry: Vendored crates for offline Rust builds, used when it exists.

    Raises:
        ValueError: `language` is not one of `LANGUAGES`.
        ToolchainMissing: Nothing here builds it; `install` holds the command to run.
    """
    if language not in LANGUAGES:
        msg = f"cannot build {language!r}; choose one of {', '.join(LANGUAGES)}"
        raise ValueError(msg)
    if language in {"wat", "wasm"}:
        return Toolchain(language, "wasmtime")
    dirs = _search_dirs(path)
    found = _find(language, dirs, registry)
    if found is None:
        install = INSTALL[language]
        msg = (
            f"no {language} compiler for wasm32-wasi was found; install one with "
            f"`{install}`, {_ALTERNATIVE[language]}"
        )
        raise ToolchainMissing(msg, language=language, install=install)
    return found


def _find(language: str, dirs: list[Path], registry: Path) -> Toolchain | None:
    if language == "c":
        return _find_clang(dirs) or _zig_toolchain("c", dirs)
    if language == "zig":
        return _zig_toolchain("zig", dirs)
    rust = find_rust(dirs)
    if rust is None:
        return None
    vendored = registry if registry.is_dir() else None
    read_only = _outside_usr(rust.sysroot) + (_outside_usr(vendored) if vendored else ())
    env = {"RUSTC": str(rust.rustc), "PATH": f"{rust.rustc.parent}:/usr/local/bin:/usr/bin:/bin"}
    return Toolchain("rust", "cargo", rust.cargo, rust.target, read_only, env, vendored)


def _search_dirs(path: str | None) -> list[Path]:
    if path is not None:
        return [Path(d) for d in path.split(os.pathsep) if d]
    dirs = [Path(d) for d in os.environ.get("PATH", "").split(os.pathsep) if d]
    dirs.append(Path("/usr/bin"))
    spec = importlib.util.find_spec("ziglang")
    if spec is not None and spec.submodule_search_locations:
        dirs.extend(Path(d) for d in spec.submodule_search_locations)
    return dirs


def _which(name: str, dirs: list[Path]) -> Path | None:
    found = shutil.which(name, path=os.pathsep.join(map(str, dirs)))
    return Path(found) if found else None


def _find_clang(dirs: list[Path]) -> Toolchain | None:
    """Clang with wasm-ld, wasi-libc and the wasm32 builtins, all three needed to link."""
    for name in _CLANG_NAMES:
        clang = _which(name, dirs)
        if clang is None:
            continue
        real = clang.resolve()  # /usr/bin/clang-14 -> /usr/lib/llvm-14/bin/clang
        prefix = clang.parent.parent  # where Debian puts wasi-libc: /usr/lib/wasm32-wasi
        has_libc = (prefix / "lib" / "wasm32-wasi" / "libc.a").is_file()
        has_ld = (real.parent / "wasm-ld").exists() or _which("wasm-ld", dirs) is not None
        builtins = real.parent.parent / "lib" / "clang"
        has_rt = any(builtins.glob("*/lib/wasi/libclang_rt.builtins-wasm32.a"))
        if has_libc and has_ld and has_rt:
            return Toolchain("c", "clang", clang, read_only=_outside_usr(real.parent.parent))
    return None


def _zig_toolchain(language: str, dirs: list[Path]) -> Toolchain | None:
    zig = _which("zig", dirs)
    if zig is None:
        return None
    # zig finds its standard library beside the real binary (the ziglang package dir).
    home = zig.resolve().parent
    kind = "zig-cc" if language == "c" else "zig"
    return Toolchain(language, kind, zig.resolve(), read_only=_outside_usr(home))


def _outside_usr(path: Path) -> tuple[Path, ...]:
    # The sandbox always shows /usr; anything else must be bound.
    return () if path.is_relative_to("/usr") else (path,)
