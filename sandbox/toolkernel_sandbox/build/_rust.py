"""Finding a Rust toolchain whose standard library is built for WASI."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RustInstall", "find_rust"]

# Newer toolchains call it wasm32-wasip1; older ones (Debian's 1.63) wasm32-wasi.
_TARGETS = ("wasm32-wasip1", "wasm32-wasi")
_SYSROOT_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class RustInstall:
    """One Rust toolchain that can target WASI.

    Attributes:
        rustc: The real compiler in the sysroot (never a rustup proxy).
        cargo: The sysroot's cargo.
        sysroot: The toolchain's root (`/usr` for Debian's packages).
        target: The WASI target its standard library is built for.
    """

    rustc: Path
    cargo: Path
    sysroot: Path
    target: str


def find_rust(dirs: list[Path]) -> RustInstall | None:
    """The first `rustc` in `dirs` whose sysroot has a WASI standard library, or None.

    rustup's proxies are asked for their sysroot, so `~/.cargo/bin/rustc` counts when
    its default toolchain has the target; a proxy without it is passed over in favour
    of, say, Debian's `/usr/bin/rustc` later on the path.
    """
    seen: set[Path] = set()
    for directory in dirs:
        rustc = directory / "rustc"
        if not os.access(rustc, os.X_OK):
            continue
        sysroot = _sysroot(rustc)
        if sysroot is None or sysroot in seen:
            continue
        seen.add(sysroot)
        found = _wasi_install(sysroot)
        if found is not None:
            return found
    return None


def _wasi_install(sysroot: Path) -> RustInstall | None:
    rustc, cargo = sysroot / "bin" / "rustc", sysroot / "bin" / "cargo"
    if not (os.access(rustc, os.X_OK) and os.access(cargo, os.X_OK)):
        return None
    for target in _TARGETS:
        if (sysroot / "lib" / "rustlib" / target / "lib").is_dir():
            return RustInstall(rustc, cargo, sysroot, target)
    return None


def _sysroot(rustc: Path) -> Path | None:
    """Ask `rustc` (perhaps a rustup proxy) where its toolchain lives."""
    try:
        done = subprocess.run(
            [str(rustc), "--print", "sysroot"],
            capture_output=True,
            text=True,
            timeout=_SYSROOT_TIMEOUT_S,
            cwd="/",  # so no rust-toolchain file of the caller's picks the toolchain
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    text = done.stdout.strip()
    return Path(text) if done.returncode == 0 and text else None
