"""Dependency environments for script tools: real pip and npm installs, used in the sandbox.

These reach PyPI and the npm registry.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from toolkernel.errors import DependencyError
from toolkernel.kinds.script._envs import EnvManager, ToolEnv
from toolkernel_sandbox.process import Completed, ProcessPolicy, run

SLOW = pytest.mark.timeout(300)
needs_npm = pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")


def run_with(env: ToolEnv, command: list[str]) -> Completed:
    """Run `command` in the sandbox the way a script tool using `env` runs."""
    path = ":".join([*map(str, env.bin_dirs), "/usr/local/bin:/usr/bin:/bin"])
    policy = ProcessPolicy(
        read_only=env.read_only, env={**env.env, "PATH": path}, memory_bytes=4 * 2**30
    )
    return run(command, policy=policy)


def leftovers(root: Path) -> list[str]:
    """Every environment or staging directory under `root`."""
    return sorted(p.name for kind in ("python", "node") for p in (root / kind).glob("*"))


@pytest.fixture(scope="module")
def six_env(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ToolEnv, list[str]]:
    """One venv with `six`, made once for this module: (root, env, its install lines)."""
    root = tmp_path_factory.mktemp("envs")
    lines: list[str] = []
    env = EnvManager(root).python_env(["six==1.17.0"], on_line=lines.append)
    return root, env, lines


# -- python ------------------------------------------------------------------------------


@SLOW
def test_a_python_requirement_imports_inside_the_sandbox(
    six_env: tuple[Path, ToolEnv, list[str]],
) -> None:
    _, env, _ = six_env
    done = run_with(env, ["python", "-c", "import six, sys; print(six.__version__, sys.prefix)"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().split() == ["1.17.0", str(env.path)]
    assert env.kind == "python"
    assert env.env == {"VIRTUAL_ENV": str(env.path)}


@SLOW
def test_pip_progress_reaches_on_line(six_env: tuple[Path, ToolEnv, list[str]]) -> None:
    _, _, lines = six_env
    assert any(line.startswith("Successfully installed six-1.17.0") for line in lines), lines
    assert all(line.strip() for line in lines)


@SLOW
def test_the_venv_scripts_point_at_where_it_lives(
    six_env: tuple[Path, ToolEnv, list[str]],
) -> None:
    _, env, _ = six_env
    done = run_with(env, ["pip", "--version"])  # a console script: its shebang must resolve
    assert done.returncode == 0, done.stderr
    assert str(env.path) in done.stdout.decode()
    assert ".tmp-" not in (env.path / "bin" / "activate").read_text()


@SLOW
def test_the_same_requirements_share_one_env_and_install_once(
    six_env: tuple[Path, ToolEnv, list[str]],
) -> None:
    root, env, _ = six_env
    marker = env.path / ".complete"
    before = marker.stat().st_mtime_ns
    lines: list[str] = []
    again = EnvManager(root).python_env([" six==1.17.0 ", "six == 1.17.0"], on_line=lines.append)
    assert again == env
    assert lines == []
    assert marker.stat().st_mtime_ns == before
    assert leftovers(root) == [env.path.name]


@SLOW
def test_a_missing_package_raises_with_pips_message_and_leaves_nothing(tmp_path: Path) -> None:
    name = "toolkernel-no-such-package-xyz"
    with pytest.raises(DependencyError) as caught:
        EnvManager(tmp_path).python_env([name])
    error = caught.value
    assert error.kind == "python"
    assert error.dependencies == (name,)
    assert f"No matching distribution found for {name}" in error.output
    assert error.output in str(error)
    assert "https://pypi.org" in str(error)
    assert leftovers(tmp_path) == []


def test_an_install_past_its_time_limit_is_stopped_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(DependencyError, match=r"ran past its 0\.5 s limit .* larger timeout_s"):
        EnvManager(tmp_path).python_env(["six"], timeout_s=0.5)
    assert leftovers(tmp_path) == []


# -- node --------------------------------------------------------------------------------


@SLOW
@needs_npm
def test_an_npm_package_requires_inside_the_sandbox(tmp_path: Path) -> None:
    lines: list[str] = []
    env = EnvManager(tmp_path).node_env(["is-number@7.0.0"], on_line=lines.append)
    done = run_with(env, ["node", "-e", "console.log(require('is-number')(5))"])
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"true\n"
    assert env.env == {"NODE_PATH": str(env.path / "node_modules")}
    assert any("added 1 package" in line for line in lines), lines
    assert leftovers(tmp_path) == [env.path.name]


@SLOW
@needs_npm
def test_concurrent_requests_for_one_env_install_once(tmp_path: Path) -> None:
    envs = EnvManager(tmp_path)
    lines: list[str] = []
    results: list[ToolEnv] = []
    start = threading.Barrier(2, timeout=10)

    def request() -> None:
        start.wait()
        results.append(envs.node_env(["is-number@7.0.0"], on_line=lines.append))

    threads = [threading.Thread(target=request) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(240)
    assert len(results) == 2
    assert results[0] == results[1]
    assert sum("added 1 package" in line for line in lines) == 1


@SLOW
@needs_npm
def test_an_env_without_its_marker_is_rebuilt(tmp_path: Path) -> None:
    env = EnvManager(tmp_path).node_env(["is-number@7.0.0"])
    (env.path / ".complete").unlink()
    lines: list[str] = []
    again = EnvManager(tmp_path).node_env(["is-number@7.0.0"], on_line=lines.append)
    assert again == env
    assert any("added 1 package" in line for line in lines), lines
    assert (env.path / ".complete").is_file()


@SLOW
@needs_npm
def test_a_missing_npm_package_raises_with_npms_message(tmp_path: Path) -> None:
    with pytest.raises(DependencyError, match="npm install failed") as caught:
        EnvManager(tmp_path).node_env(["toolkernel-no-such-package-xyz"])
    assert "E404" in caught.value.output
    assert "tarball, folder" not in caught.value.output  # npm's hint at specs we refuse
    assert leftovers(tmp_path) == []


# -- what is accepted --------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        "--index-url=x",
        "-e .",
        "../evil",
        "./pkg",
        "/abs/pkg",
        "git+https://x",
        "six @ https://example.com/six.whl",
        "file:six",
        "six.whl",
        "a; rm -rf /",
        "six $(id)",
        "six --pre",
        "six; python_version < '4'",
        "",
    ],
)
def test_refused_requirements_raise_before_anything_runs(tmp_path: Path, spec: str) -> None:
    lines: list[str] = []
    with pytest.raises(DependencyError, match="refused: give a PyPI project name") as caught:
        EnvManager(tmp_path / "envs").python_env(["six", spec], on_line=lines.append)
    assert caught.value.kind == "python"
    assert spec.strip() in caught.value.dependencies
    assert lines == []
    assert not (tmp_path / "envs").exists()


@pytest.mark.parametrize(
    "spec",
    [
        "--registry=x",
        "-g",
        "../evil",
        "user/repo",
        "git+https://x",
        "github:user/repo",
        "file:../x",
        "foo@npm:bar",
        "foo@http://x/y.tgz",
        "x.tgz",
        "a; rm -rf /",
        "foo@1 || 2",
        "@scope",
    ],
)
def test_refused_packages_raise_before_anything_runs(tmp_path: Path, spec: str) -> None:
    with pytest.raises(DependencyError, match="refused: give an npm package name"):
        EnvManager(tmp_path / "envs").node_env([spec])
    assert not (tmp_path / "envs").exists()


@pytest.mark.parametrize(
    "spec",
    [
        "requests>=2",
        "pandas[excel]==2.2.0",
        "requests >= 2, <3",
        "Django~=4.2",
        "zope.interface!=5.*",
        "foo[a, b]>1.0.post1",
    ],
)
def test_registry_requirements_pass_the_check(spec: str) -> None:
    from toolkernel.host._depspecs import check_requirement

    assert check_requirement(spec) is None


@pytest.mark.parametrize(
    "spec", ["left-pad@1.3.0", "@scope/pkg@^1", "is-number", "@types/node", "lodash@latest"]
)
def test_registry_packages_pass_the_check(spec: str) -> None:
    from toolkernel.host._depspecs import check_package

    assert check_package(spec) is None


def test_no_dependencies_means_no_environment(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one dependency"):
        EnvManager(tmp_path).python_env([])
    with pytest.raises(ValueError, match="at least one dependency"):
        EnvManager(tmp_path).node_env([])
