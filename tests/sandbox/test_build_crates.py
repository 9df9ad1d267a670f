"""Rust crates fetched from a registry: a fetch step without build scripts, then offline.

The registry is a local one made with real cargo (this machine reaches none online).
Its crate's build script tries to phone home and to write a host file; the tool built
from it reports what the script managed, and the test checks the host side too.
"""

from __future__ import annotations

import dataclasses
import json
import re
import socket
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from build_support import run_wasm, toolchain_or_skip

from crate_support import local_registry, tkgreet, tool_files
from toolkernel_sandbox import BuildError
from toolkernel_sandbox.build import build
from toolkernel_sandbox.build._crates import check_manifests, crate_source, fetch_config

pytestmark = pytest.mark.timeout(300)

DEBIAN_REGISTRY = Path("/usr/share/cargo/registry")


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A TCP listener on loopback that a build script would phone."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.setblocking(False)
        yield server


def assert_nobody_phoned(server: socket.socket) -> None:
    with pytest.raises(BlockingIOError):
        server.accept()


def test_a_tool_builds_with_a_crate_from_a_local_registry_whose_build_script_is_contained(
    tmp_path: Path, listener: socket.socket
) -> None:
    toolchain = toolchain_or_skip("rust")
    assert toolchain.compiler is not None
    sentinel = tmp_path / "sentinel"
    sentinel.write_text("original")
    registry = local_registry(
        toolchain.compiler, tmp_path / "made", {"tkgreet": tkgreet(listener, sentinel)}
    )
    lines: list[str] = []

    wasm = build(
        "rust",
        tool_files(),
        work_dir=tmp_path / "w",
        cache_dir=tmp_path / "caches",
        on_line=lines.append,
        crates=str(registry),
        scope="local.greeter",
    )

    code, stdout = run_wasm(wasm, b"{}", tmp_path)
    assert code == 0
    assert stdout == b'{"greeting": "hello, wasm", "build": "phoned=false wrote=false"}\n'
    assert f"fetching crates from {registry}" in lines
    assert any("tkgreet v0.1.0" in line for line in lines)
    assert sentinel.read_text() == "original"
    assert_nobody_phoned(listener)


def test_a_failed_fetch_falls_back_to_the_vendored_crates(tmp_path: Path) -> None:
    toolchain = toolchain_or_skip("rust")
    if toolchain.registry is None or not any(toolchain.registry.glob("cfg-if-1.*")):
        pytest.skip("no vendored cfg-if (apt-get install librust-cfg-if-dev)")
    # Its index offers a cfg-if the vendored crates lack, and no file of it: the fetch
    # resolves (and may pin that version in Cargo.lock), then fails to download it.
    broken = tmp_path / "broken-registry"
    entry = {"name": "cfg-if", "vers": "1.99.0", "deps": [], "cksum": "0" * 64}
    entry |= {"features": {}, "yanked": False}
    (broken / "index" / "cf" / "g-").mkdir(parents=True)
    (broken / "index" / "cf" / "g-" / "cfg-if").write_text(json.dumps(entry) + "\n")
    files = {
        "Cargo.toml": '[package]\nname = "t"\nversion = "0.1.0"\nedition = "2021"\n\n'
        '[dependencies]\ncfg-if = "1"\n',
        "src/main.rs": 'cfg_if::cfg_if! { if #[cfg(target_os = "wasi")] {\n'
        '    fn main() { println!("\\"wasi\\""); }\n'
        '} else {\n    fn main() { println!("\\"other\\""); }\n} }\n',
    }
    lines: list[str] = []

    wasm = build("rust", files, work_dir=tmp_path / "w", on_line=lines.append, crates=str(broken))

    assert run_wasm(wasm, b"{}", tmp_path) == (0, b'"wasi"\n')
    assert f"could not fetch crates from {broken}; building with the vendored crates" in lines


def test_a_failed_fetch_without_vendored_crates_says_what_to_check(tmp_path: Path) -> None:
    toolchain = dataclasses.replace(toolchain_or_skip("rust"), registry=None)
    empty = tmp_path / "empty-registry"
    (empty / "index").mkdir(parents=True)
    files = tool_files()

    with pytest.raises(BuildError) as failed:
        build("rust", files, work_dir=tmp_path / "w", toolchain=toolchain, crates=str(empty))

    message = str(failed.value)
    assert message.startswith(f"could not fetch the crates from {empty}:")
    assert "tkgreet" in message
    assert "the crate registry setting" in message
    assert not (tmp_path / "w" / "vendor" / "tkgreet-0.1.0").exists()


# Each is added to the end of a tool's Cargo.toml, whose last table is [dependencies].
HOSTILE_MANIFESTS = {
    "a path dependency outside": (
        'secrets = { path = "/etc" }\n',
        "leaves the project",
    ),
    "a path climbing out": ('up = { path = "../../x" }\n', "leaves the project"),
    "a git dependency": (
        'r = { git = "https://example.com/r.git" }\n',
        "git dependencies are not fetched",
    ),
    "another registry": (
        'r = { version = "1", registry = "other" }\n',
        "only the configured crate registry",
    ),
    "a registry index": (
        'r = { version = "1", registry-index = "https://x" }\n',
        "only the configured crate registry",
    ),
    "a target dependency outside": (
        "[target.'cfg(unix)'.build-dependencies]\nx = { path = \"/usr/lib\" }\n",
        "leaves the project",
    ),
    "a patch from git": (
        '[patch.crates-io]\nregex = { git = "https://example.com/regex.git" }\n',
        "git dependencies are not fetched",
    ),
    "a patch of another source": (
        "[patch.'https://example.com/r.git']\nr = { path = \"r\" }\n",
        "only [patch.crates-io]",
    ),
    "a replace outside": (
        '[replace]\n"regex:1.0.0" = { path = "/tmp/regex" }\n',
        "leaves the project",
    ),
    "a library outside": ('[lib]\npath = "/etc/passwd"\n', "leaves the project"),
    "a workspace member outside": ('[workspace]\nmembers = ["../other"]\n', "leaves the project"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_MANIFESTS))
def test_a_manifest_reaching_outside_the_project_is_refused_before_anything_runs(
    tmp_path: Path, case: str
) -> None:
    toolchain = toolchain_or_skip("rust")
    extra, reason = HOSTILE_MANIFESTS[case]
    files = tool_files()
    files["Cargo.toml"] += extra
    registry = tmp_path / "registry"
    (registry / "index").mkdir(parents=True)

    with pytest.raises(BuildError, match=re.escape(reason)):
        build(
            "rust",
            files,
            work_dir=tmp_path / "w",
            toolchain=toolchain,
            crates=str(registry),
        )
    assert not (tmp_path / "w" / "cargo-home").exists()


def test_a_package_build_script_outside_the_project_is_refused(tmp_path: Path) -> None:
    files = tool_files()
    files["Cargo.toml"] = files["Cargo.toml"].replace(
        'edition = "2021"', 'edition = "2021"\nbuild = "/etc/hostname"'
    )
    with pytest.raises(BuildError, match=r"package\.build = '/etc/hostname' leaves the project"):
        check_manifests(files)


def test_a_nested_manifest_is_checked_from_its_own_folder() -> None:
    inner_ok = (
        '[package]\nname = "inner"\nversion = "0.1.0"\n\n[dependencies]\nx = { path = "../x" }\n'
    )
    assert check_manifests({"libs/inner/Cargo.toml": inner_ok}) is False
    inner_out = inner_ok.replace("../x", "../../../x")
    with pytest.raises(BuildError, match=r"libs/inner/Cargo\.toml: dependencies\.x\.path"):
        check_manifests({"libs/inner/Cargo.toml": inner_out})


@pytest.mark.parametrize("name", [".cargo/config.toml", ".cargo/config", "sub/.cargo/config.toml"])
def test_cargo_configuration_among_the_sources_is_refused(name: str) -> None:
    files = {**tool_files(), name: '[build]\nrustc-wrapper = "/bin/sh"\n'}
    with pytest.raises(BuildError, match="is cargo configuration"):
        check_manifests(files)


def test_only_registry_dependencies_need_a_fetch() -> None:
    local_only = (
        '[package]\nname = "t"\nversion = "0.1.0"\n\n[dependencies]\nhelper = { path = "helper" }\n'
    )
    assert check_manifests({"Cargo.toml": local_only}) is False
    assert check_manifests({"Cargo.toml": '[package]\nname = "t"\nversion = "0.1.0"\n'}) is False
    assert check_manifests(tool_files()) is True


def test_a_registry_setting_is_crates_io_a_url_or_an_absolute_folder(tmp_path: Path) -> None:
    assert crate_source("crates.io").kind == "crates-io"
    assert crate_source("sparse+https://index.example.com/").kind == "registry"
    (tmp_path / "local" / "index").mkdir(parents=True)
    (tmp_path / "vendored").mkdir()
    local = crate_source(str(tmp_path / "local"))
    assert (local.kind, local.read_only) == ("local-registry", (tmp_path / "local",))
    assert crate_source(str(tmp_path / "vendored")).kind == "directory"
    with pytest.raises(BuildError, match=r"not crates\.io, an index URL"):
        crate_source("relative/folder")
    with pytest.raises(BuildError, match="does not exist"):
        crate_source(str(tmp_path / "missing"))
    with pytest.raises(BuildError, match="quotes, spaces"):
        crate_source('https://x/"]\n[build]')


def test_the_fetch_config_replaces_crates_io_with_the_configured_registry(tmp_path: Path) -> None:
    (tmp_path / "index").mkdir()
    config = tomllib.loads(fetch_config(crate_source(str(tmp_path))))
    assert config["source"]["crates-io"]["replace-with"] == "configured"
    assert config["source"]["configured"] == {"local-registry": str(tmp_path)}
    assert "source" not in tomllib.loads(fetch_config(crate_source("crates.io")))
    assert "offline" not in tomllib.loads(fetch_config(crate_source("crates.io"))).get("net", {})


def test_without_a_registry_a_build_never_fetches(tmp_path: Path) -> None:
    toolchain = dataclasses.replace(toolchain_or_skip("rust"), registry=DEBIAN_REGISTRY)
    with pytest.raises(BuildError) as failed:
        build("rust", tool_files(), work_dir=tmp_path / "w", toolchain=toolchain)
    assert "could not fetch" not in str(failed.value)
    assert not (tmp_path / "w" / "fetch-home").exists()
