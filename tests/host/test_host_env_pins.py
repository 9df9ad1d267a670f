"""Exact dependency versions: an environment records what it holds, and pins get it back.

A package index made by the test serves a tiny package; a newer version appears later.
Nothing here depends on what a public index serves today.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_index import LocalIndex
from toolkernel.errors import RegistryError
from toolkernel.kinds.script._envs import EnvManager, ToolEnv
from toolkernel.kinds.script._manifest import script_fields
from toolkernel_sandbox.process import ProcessPolicy, run

pytestmark = pytest.mark.timeout(300)
needs_npm = pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")

PROBE = "tk-pin-probe"


@pytest.fixture
def index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalIndex]:
    with LocalIndex(tmp_path / "index") as served:
        monkeypatch.setenv("PIP_INDEX_URL", served.pip_url)
        monkeypatch.setenv("NPM_CONFIG_REGISTRY", served.npm_url)
        yield served


def installed_version(env: ToolEnv) -> str:
    """The probe's version as code in the sandbox sees it."""
    path = ":".join([*map(str, env.bin_dirs), "/usr/local/bin:/usr/bin:/bin"])
    policy = ProcessPolicy(
        read_only=env.read_only, env={**env.env, "PATH": path}, memory_bytes=4 * 2**30
    )
    if env.kind == "python":
        command = ["python", "-c", "import tk_pin_probe; print(tk_pin_probe.VERSION)"]
    else:
        command = ["node", "-e", "console.log(require('tk-pin-probe').version)"]
    done = run(command, policy=policy)
    assert done.returncode == 0, done.stderr
    return done.stdout.decode().strip()


def test_a_venv_records_its_pins_and_the_pins_reinstall_the_old_version(
    index: LocalIndex, tmp_path: Path
) -> None:
    index.add_wheel(PROBE, "1.0")
    first = EnvManager(tmp_path / "envs").python_env([PROBE])
    assert first.resolved == (f"{PROBE}==1.0",)  # the venv's own pip is not a dependency

    index.add_wheel(PROBE, "2.0")
    lines: list[str] = []
    again = EnvManager(tmp_path / "envs").python_env(list(first.resolved), on_line=lines.append)
    assert again.path == first.path  # the environment that holds exactly these pins
    assert lines == []  # nothing was installed

    shutil.rmtree(tmp_path / "envs")  # another machine, or a cleared cache
    envs = EnvManager(tmp_path / "envs")
    assert installed_version(envs.python_env([PROBE])) == "2.0"  # what the index serves now
    pinned = envs.python_env(list(first.resolved))
    assert pinned.resolved == first.resolved
    assert installed_version(pinned) == "1.0"


@needs_npm
def test_node_modules_record_their_pins_and_the_pins_reinstall_the_old_version(
    index: LocalIndex, tmp_path: Path
) -> None:
    index.add_npm(PROBE, "1.0.0")
    first = EnvManager(tmp_path / "envs").node_env([PROBE])
    assert first.resolved == (f"{PROBE}@1.0.0",)

    index.add_npm(PROBE, "2.0.0")
    assert EnvManager(tmp_path / "envs").node_env(list(first.resolved)).path == first.path

    shutil.rmtree(tmp_path / "envs")
    envs = EnvManager(tmp_path / "envs")
    assert installed_version(envs.node_env([PROBE])) == "2.0.0"
    pinned = envs.node_env(list(first.resolved))
    assert pinned.resolved == first.resolved
    assert installed_version(pinned) == "1.0.0"


def fields(language: str, **given: object) -> dict[str, object]:
    options: dict[str, object] = {
        "language": language,
        "entry": None,
        "command": None,
        "requirements": None,
        "packages": None,
        "persistent": False,
        "secrets": None,
        "policy": None,
        "limits": None,
    }
    return script_fields("local.t", **(options | given))  # type: ignore[arg-type]


def test_given_pins_are_kept_only_when_exact_and_complete() -> None:
    kept = fields("python", requirements=["Tk_Pin.Probe>=1"], resolved=["tk-pin-probe==1.0"])
    assert kept["resolved"] == ["tk-pin-probe==1.0"]
    node = fields("node", packages=["@s/p@^1"], resolved=["@s/p@1.2.3", "dep@0.1.0"])
    assert node["resolved"] == ["@s/p@1.2.3", "dep@0.1.0"]
    assert fields("python", requirements=["six"])["resolved"] == []  # recorded at install
    assert "resolved" not in fields("python")  # no dependencies, nothing to pin
    with pytest.raises(RegistryError, match=r"exact versions only, such as 'six==1.17.0'"):
        fields("python", requirements=["six"], resolved=["six>=1"])
    with pytest.raises(RegistryError, match=r"exact versions only, such as 'left-pad@1.3.0'"):
        fields("node", packages=["left-pad"], resolved=["left-pad@^1"])
    with pytest.raises(RegistryError, match=r"resolved pins no version of 'humanize'"):
        fields("python", requirements=["six", "humanize"], resolved=["six==1.17.0"])
