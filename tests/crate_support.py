"""A crate registry on disk, made with real cargo, for Rust builds that fetch crates.

`local_registry` packages crates with `cargo package` and writes the index beside the
`.crate` files: the layout of a cargo `local-registry` source.

`tkgreet`, the crate the tests fetch, has a build script that tries what a hostile
dependency would: to phone home (a TCP connection to a listener of the test) and to
write a host file. What it managed is compiled into the crate (`BUILD_ESCAPES`), so
the tool that uses it reports it.
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
from pathlib import Path

__all__ = ["TOOL_MAIN", "local_registry", "tkgreet", "tool_files"]

_GREET_LIB = """\
pub fn greet(name: &str) -> String {
    format!("hello, {name}")
}

/// What the build script managed: `phoned=<bool> wrote=<bool>`.
pub const BUILD_ESCAPES: &str = env!("TKGREET_ESCAPES");
"""

_GREET_BUILD_RS = """\
use std::{fs, net::{SocketAddr, TcpStream}, time::Duration};

fn main() {
    let addr: SocketAddr = "127.0.0.1:PORT".parse().unwrap();
    let phoned = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok();
    let wrote = fs::write("SENTINEL", "escaped").is_ok();
    println!("cargo:rustc-env=TKGREET_ESCAPES=phoned={phoned} wrote={wrote}");
}
"""

TOOL_MAIN = """\
fn main() {
    println!(
        "{{\\"greeting\\": \\"{}\\", \\"build\\": \\"{}\\"}}",
        tkgreet::greet("wasm"),
        tkgreet::BUILD_ESCAPES
    );
}
"""


def tkgreet(listener: socket.socket, sentinel: Path) -> dict[str, str]:
    """The `tkgreet` crate's files; its build script phones `listener`, writes `sentinel`."""
    port = listener.getsockname()[1]
    build_rs = _GREET_BUILD_RS.replace("PORT", str(port)).replace("SENTINEL", str(sentinel))
    return {
        "Cargo.toml": '[package]\nname = "tkgreet"\nversion = "0.1.0"\nedition = "2021"\n',
        "build.rs": build_rs,
        "src/lib.rs": _GREET_LIB,
    }


def tool_files(name: str = "greeter") -> dict[str, str]:
    """A Rust tool that depends on `tkgreet` from the registry and prints what it says."""
    manifest = (
        f'[package]\nname = "{name}"\nversion = "0.1.0"\nedition = "2021"\n\n'
        '[dependencies]\ntkgreet = "0.1"\n'
    )
    return {"Cargo.toml": manifest, "src/main.rs": TOOL_MAIN}


def local_registry(cargo: Path, root: Path, crates: dict[str, dict[str, str]]) -> Path:
    """Package `crates` (name -> files) with `cargo`; return a local registry holding them.

    Each crate is version 0.1.0 and depends on nothing.
    """
    registry = root / "registry"
    (registry / "index").mkdir(parents=True)
    for name, files in crates.items():
        source = root / "crates" / name
        for relative, text in files.items():
            (source / relative).parent.mkdir(parents=True, exist_ok=True)
            (source / relative).write_text(text, encoding="utf-8")
        subprocess.run(
            [str(cargo), "package", "--no-verify", "--allow-dirty", "--offline", "--quiet"],
            cwd=source,
            env={"CARGO_HOME": str(root / "cargo-home"), "PATH": "/usr/bin:/bin"},
            check=True,
            capture_output=True,
            timeout=120,
        )
        packaged = source / "target" / "package" / f"{name}-0.1.0.crate"
        data = packaged.read_bytes()
        (registry / packaged.name).write_bytes(data)
        entry = {
            "name": name,
            "vers": "0.1.0",
            "deps": [],
            "cksum": hashlib.sha256(data).hexdigest(),
            "features": {},
            "yanked": False,
        }
        index_file = registry / "index" / _index_path(name)
        index_file.parent.mkdir(parents=True, exist_ok=True)
        index_file.write_text(json.dumps(entry) + "\n", encoding="utf-8")
    return registry


def _index_path(name: str) -> str:
    """Where cargo's index keeps a crate's entries (`tk/gr/tkgreet`)."""
    if len(name) <= 2:
        return f"{len(name)}/{name}"
    if len(name) == 3:
        return f"3/{name[0]}/{name}"
    return f"{name[:2]}/{name[2:4]}/{name}"
