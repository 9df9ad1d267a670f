"""Crates from a registry: where they come from, and the manifests allowed to ask for them.

A Rust build that uses a registry runs cargo twice. First `cargo vendor` copies every
crate the project needs from the registry into a vendor folder of the build: it runs no
build script and no macro, and it is the only step with the network. Then the compile
runs offline against that folder alone, as before.

Before either runs, every `Cargo.toml` of the source is checked, so that neither step
reads or fetches anything but the project's own files and the configured registry:
paths (path dependencies, `[patch]`, `build`, targets, workspace members) stay inside
the project, and git dependencies, other registries and a project `.cargo` folder
(cargo's own config, which could replace the registry or wrap rustc) are refused.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from toolkernel_sandbox._errors import BuildError

__all__ = ["CRATES_IO", "CrateSource", "check_manifests", "crate_source", "fetch_config"]

#: The setting that names crates.io itself (its sparse index where cargo has it).
CRATES_IO = "crates.io"

_DEPENDENCY_TABLES = (
    "dependencies",
    "dev-dependencies",
    "dev_dependencies",
    "build-dependencies",
    "build_dependencies",
)
_TARGET_TABLES = ("lib", "bin", "example", "test", "bench")
_PACKAGE_PATHS = ("build", "workspace", "readme", "license-file")
_REFUSED_KEYS = {
    "git": "git dependencies are not fetched",
    "registry": "only the configured crate registry is used",
    "registry-index": "only the configured crate registry is used",
}
_ADVICE = (
    "depend on crates by version from the configured registry, or put the crate's "
    "files in the tool's source and use a relative path"
)
# What a fetch may take from the host's environment: proxies, as pip and npm do.
_FORWARDED = (
    *(f"{name}_proxy" for name in ("http", "https", "no", "all")),
    *(f"{name}_PROXY" for name in ("HTTP", "HTTPS", "NO", "ALL")),
)


@dataclass(frozen=True)
class CrateSource:
    """A crate registry cargo fetches from.

    Attributes:
        setting: As given: `crates.io`, an index URL, or a local folder.
        kind: `crates-io`; `registry` (an index URL); `local-registry` (a folder with
            an `index/` and `.crate` files); `directory` (a vendored folder, one
            unpacked crate per subfolder).
        location: The URL or folder; empty for crates.io.
    """

    setting: str
    kind: str
    location: str = ""

    @property
    def read_only(self) -> tuple[Path, ...]:
        """Host folders the fetch must see: a local registry."""
        local = self.kind in {"local-registry", "directory"}
        return (Path(self.location),) if local else ()


def crate_source(setting: str) -> CrateSource:
    """Parse a crate registry setting: `crates.io`, an index URL, or an absolute folder.

    A URL may be a sparse index (`sparse+https://...`, cargo 1.68 or later) or a git
    index (`https://...`). A folder holding `index/` is a local registry (as made by
    `cargo local-registry`); any other folder is a vendored one (as made by `cargo
    vendor`).

    Raises:
        BuildError: The setting is none of these, or the folder does not exist.
    """
    text = setting.strip()
    if text == CRATES_IO:
        return CrateSource(text, "crates-io")
    if text.startswith(("https://", "http://", "sparse+https://", "sparse+http://")):
        if any(ch in text for ch in "\"'\\\n\r\t "):
            msg = f"crate registry URL {text!r} has quotes, spaces or control characters"
            raise BuildError(msg, language="rust")
        return CrateSource(text, "registry", text)
    folder = Path(text)
    if not folder.is_absolute():
        msg = (
            f"crate registry {setting!r} is not crates.io, an index URL (https://... or "
            f"sparse+https://...), or an absolute folder; set one of these"
        )
        raise BuildError(msg, language="rust")
    if not folder.is_dir():
        msg = f"crate registry folder {text} does not exist; make it, or set another registry"
        raise BuildError(msg, language="rust")
    kind = "local-registry" if (folder / "index").is_dir() else "directory"
    return CrateSource(text, kind, str(folder.resolve()))


def fetch_config(source: CrateSource) -> str:
    """The cargo config of the fetch step: crates from `source`, nothing else."""
    lines = ["[term]", 'color = "never"', "", "[net]", "retry = 2", ""]
    lines += ["[registries.crates-io]", 'protocol = "sparse"', ""]
    if source.kind != "crates-io":
        lines += ["[source.crates-io]", 'replace-with = "configured"', ""]
        lines += ["[source.configured]", f"{source.kind} = {_toml_string(source.location)}", ""]
    return "\n".join(lines)


def fetch_env() -> dict[str, str]:
    """The host's proxy settings, and its CA bundle when one is named, for the fetch."""
    env = {name: os.environ[name] for name in _FORWARDED if name in os.environ}
    bundle = os.environ.get("SSL_CERT_FILE")
    if bundle and Path(bundle).is_file():
        env["CARGO_HTTP_CAINFO"] = bundle
    return env


def check_manifests(files: Mapping[str, str]) -> bool:
    """Check every Cargo.toml of a project; say whether any needs a registry crate.

    Raises:
        BuildError: A file under a `.cargo` folder; a manifest that is not TOML; a path
            that leaves the project; a git dependency, or one from another registry.
    """
    for name in files:
        if ".cargo" in PurePosixPath(name).parts:
            msg = (
                f"source file {name!r} is cargo configuration, which could replace the "
                "crate registry or wrap the compiler; leave it out (the build sets cargo up)"
            )
            raise BuildError(msg, language="rust")
    needs_registry = False
    for name, text in files.items():
        path = PurePosixPath(name)
        if path.name != "Cargo.toml":
            continue
        try:
            manifest = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            msg = f"{name} is not valid TOML: {exc}"
            raise BuildError(msg, language="rust", diagnostics=str(exc)) from exc
        for where, value in _paths(manifest):
            _check_inside(name, where, value)
        for where, spec in _dependencies(manifest):
            needs_registry |= _check_dependency(name, where, spec)
    return needs_registry


def _check_dependency(manifest: str, where: str, spec: object) -> bool:
    """Refuse what reaches beyond the project and the registry; True for a registry crate."""
    if not isinstance(spec, dict):
        return True  # `name = "1.0"`: a version from the registry
    for key, reason in _REFUSED_KEYS.items():
        if key in spec:
            msg = f"{manifest}: {where} uses `{key}`: {reason}; {_ADVICE}"
            raise BuildError(msg, language="rust")
    if spec.get("workspace") is True:
        return False  # its spec is the workspace's, checked on its own
    if "path" in spec:
        _check_inside(manifest, f"{where}.path", spec["path"])
        return False
    return True


def _check_inside(manifest: str, where: str, value: object) -> None:
    if not isinstance(value, str):
        return  # `build = false`, say; cargo checks the types
    parent = PurePosixPath(manifest).parent
    relative = PurePosixPath(value)
    depth = len(parent.parts)
    for part in relative.parts:
        depth += -1 if part == ".." else 0 if part == "." else 1
        if depth < 0:
            break
    if relative.is_absolute() or depth < 0 or value.startswith("~"):
        msg = f"{manifest}: {where} = {value!r} leaves the project; {_ADVICE}"
        raise BuildError(msg, language="rust")


def _dependencies(manifest: dict[str, Any]) -> Iterator[tuple[str, object]]:
    """Every dependency spec: plain, per target, the workspace's, `[patch]`, `[replace]`."""
    tables: list[tuple[str, object]] = [(t, manifest.get(t)) for t in _DEPENDENCY_TABLES]
    targets = manifest.get("target")
    if isinstance(targets, dict):
        for cfg, table in targets.items():
            if isinstance(table, dict):
                tables += [(f"target.{cfg}.{t}", table.get(t)) for t in _DEPENDENCY_TABLES]
    workspace = manifest.get("workspace")
    if isinstance(workspace, dict):
        tables.append(("workspace.dependencies", workspace.get("dependencies")))
    patches = manifest.get("patch")
    if isinstance(patches, dict):
        for source, table in patches.items():
            if source != "crates-io":
                msg = (
                    f"[patch.{source}] patches another source; only [patch.crates-io] "
                    f"is allowed, with {_ADVICE}"
                )
                raise BuildError(msg, language="rust")
            tables.append((f"patch.{source}", table))
    tables.append(("replace", manifest.get("replace")))
    for where, table in tables:
        if isinstance(table, dict):
            for name, spec in table.items():
                yield f"{where}.{name}", spec


def _paths(manifest: dict[str, Any]) -> Iterator[tuple[str, object]]:
    """Every file or folder a manifest names, besides its dependencies."""
    for section in ("package", "project"):
        table = manifest.get(section)
        if isinstance(table, dict):
            for key in _PACKAGE_PATHS:
                if key in table:
                    yield f"{section}.{key}", table[key]
    for kind in _TARGET_TABLES:
        targets = manifest.get(kind)
        for target in targets if isinstance(targets, list) else [targets]:
            if isinstance(target, dict) and "path" in target:
                yield f"{kind}.path", target["path"]
    yield from _workspace_paths(manifest.get("workspace"))


def _workspace_paths(workspace: object) -> Iterator[tuple[str, object]]:
    if isinstance(workspace, dict):
        for key in ("members", "exclude", "default-members"):
            members = workspace.get(key)
            for member in members if isinstance(members, list) else []:
                yield f"workspace.{key}", member
        package = workspace.get("package")
        if isinstance(package, dict):
            for key in ("readme", "license-file"):
                if key in package:
                    yield f"workspace.package.{key}", package[key]


def _toml_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
