"""Laying source files out on disk, and the Rust project files we generate."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from toolkernel_sandbox._errors import BuildError

__all__ = ["DEFAULT_NAMES", "cargo_config", "rust_binary_name", "rust_project", "write_sources"]

#: The file name a single source string is written to, per language.
DEFAULT_NAMES = {"c": "main.c", "zig": "main.zig", "rust": "src/main.rs"}

# Crates a generated Cargo.toml adds when a lone main.rs uses them (the JSON contract
# makes serde_json the usual one).
_KNOWN_CRATES = {
    "serde_json": '"1"',
    "serde": '{ version = "1", features = ["derive"] }',
}
_CARGO_TOML = """\
[package]
name = "tool"
version = "0.1.0"
edition = "2021"

[dependencies]
{dependencies}
[profile.release]
opt-level = "s"
strip = true
"""


def write_sources(language: str, source: str | Mapping[str, str], into: Path) -> list[Path]:
    """Write `source` (one text, or relative path -> text) under `into`; list the files.

    Raises:
        BuildError: A path is absolute, climbs out with `..`, or a value is not text.
    """
    files = {DEFAULT_NAMES[language]: source} if isinstance(source, str) else source
    written = []
    for name, text in files.items():
        relative = PurePosixPath(name)
        if not name or relative.is_absolute() or ".." in relative.parts:
            msg = f"source file name {name!r} must be a relative path inside the project"
            raise BuildError(msg, language=language)
        if not isinstance(text, str):
            msg = f"source file {name!r} must be text, not {type(text).__name__}"
            raise BuildError(msg, language=language)
        target = into / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(Path(relative))
    return written


def rust_project(source: str | Mapping[str, str]) -> dict[str, str]:
    """A cargo project from a lone `main.rs` text or from files, with a Cargo.toml.

    A generated Cargo.toml names the package `tool` and depends on `serde_json` and
    `serde` when the code mentions them.
    """
    files = {"src/main.rs": source} if isinstance(source, str) else dict(source)
    if "main.rs" in files and "src/main.rs" not in files:
        files["src/main.rs"] = files.pop("main.rs")
    if "Cargo.toml" not in files:
        code = "\n".join(text for name, text in files.items() if name.endswith(".rs"))
        used = [name for name in _KNOWN_CRATES if re.search(rf"\b{name}\b", code)]
        deps = "".join(f"{name} = {_KNOWN_CRATES[name]}\n" for name in used)
        files["Cargo.toml"] = _CARGO_TOML.format(dependencies=deps)
    return files


def rust_binary_name(cargo_toml: str) -> str:
    """The binary cargo builds from this Cargo.toml: the first `[[bin]]`, else the package.

    Raises:
        BuildError: The manifest is not TOML or names no package.
    """
    try:
        manifest = tomllib.loads(cargo_toml)
    except tomllib.TOMLDecodeError as exc:
        msg = f"Cargo.toml is not valid TOML: {exc}"
        raise BuildError(msg, language="rust", diagnostics=str(exc)) from exc
    bins = manifest.get("bin")
    if isinstance(bins, list) and bins and isinstance(bins[0].get("name"), str):
        return str(bins[0]["name"])
    name = manifest.get("package", {}).get("name")
    if not isinstance(name, str):
        msg = 'Cargo.toml has no [package] name; add one, such as name = "tool"'
        raise BuildError(msg, language="rust")
    return name


def cargo_config(registry: Path | None) -> str:
    """The cargo config: always offline; crates from `registry` when there is one."""
    lines = ["[net]", "offline = true", "", "[term]", 'color = "never"', ""]
    if registry is not None:
        lines += [
            "[source.crates-io]",
            'replace-with = "vendored"',
            "",
            "[source.vendored]",
            f'directory = "{registry}"',
            "",
        ]
    return "\n".join(lines)
