"""examples/wasm_tools.ipynb runs top to bottom on an image built the way Binder builds one.

repo2docker installs `binder/environment.yml`, then runs `binder/postBuild` as an
ordinary user (jovyan) in the repository, with the environment's `bin` first on `PATH`;
each session's command then runs through `binder/start`. Binder's containers allow no
user namespaces, so no isolating sandbox starts there.

This test does the same on this machine, as root: a `binder` user, a fresh venv from the
system `python3` (the conda environment's stand-in), a copy of the repository that user
owns, and a `PATH` without bwrap, firejail or nsjail (bwrap starts unprivileged here, so
hiding it is what makes "no sandbox" true). postBuild must choose the `rlimits` fallback,
and the notebook must build its C tool with zig (jammy's clang cannot target wasm32-wasi,
see binder/apt.txt) and give the real results.

Packages come from a wheelhouse kept in /var/tmp between runs (built once, about 30 s and
130 MB with zig), so postBuild installs offline, as fast as pip can unpack.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).parents[2]
CACHE = Path("/var/tmp/toolkernel-binder-test")
USER = "binder"
SYSTEM_PYTHON = Path("/usr/bin/python3")
HIDDEN = frozenset({"bwrap", "firejail", "nsjail"})
NETWORK = (
    *("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"),
    *("SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "PIP_CERT"),
)
"""This machine's way to the package registries (a proxy, its CA), kept for npm and pip."""
RUNNER_PACKAGES = ("nbclient>=0.10", "nbformat>=5.10")
"""What a repo2docker environment has before postBuild (it ships Jupyter): the runner."""

pytestmark = pytest.mark.timeout(900)

RUNNER = """
import sys
import nbformat
from nbclient import NotebookClient

notebook = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(
    notebook,
    timeout=300,
    kernel_name="toolkernel",
    allow_errors=True,
    resources={"metadata": {"path": sys.argv[2]}},
).execute()
nbformat.write(notebook, sys.argv[3])
"""


def requirements() -> list[str]:
    """Everything `pip install .[wasm]` needs, build backend included, and the runner's."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return sorted(
        {
            *project["build-system"]["requires"],
            *project["project"]["dependencies"],
            *project["project"]["optional-dependencies"]["wasm"],
            *RUNNER_PACKAGES,
        }
    )


def wheelhouse() -> Path:
    """A folder of wheels for every requirement, built once per set of requirements.

    Each set gets its own folder, made in a temporary one and renamed into place, so a
    second suite running at the same time never sees a half-built or removed folder.
    """
    wanted = requirements()
    key = "\n".join([str(SYSTEM_PYTHON.resolve()), *wanted])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    wheels = CACHE / f"wheels-{digest}"
    if wheels.is_dir():
        return wheels
    CACHE.mkdir(parents=True, exist_ok=True)
    CACHE.chmod(0o755)
    building = Path(tempfile.mkdtemp(prefix="wheels-building-", dir=CACHE))
    # The venv's interpreter picks the versions: a wheel may need a newer 3.11 than it has.
    pip = [str(SYSTEM_PYTHON), "-m", "pip", "wheel", "-q", "--wheel-dir", str(building), *wanted]
    try:
        subprocess.run(pip, check=True, timeout=600)
        for path in (building, *building.iterdir()):
            path.chmod(0o755 if path.is_dir() else 0o644)
        building.rename(wheels)
    except OSError:
        if not wheels.is_dir():  # not another suite's finished folder in the way
            raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return wheels


def binder_user() -> pwd.struct_passwd:
    """The unprivileged user postBuild and the notebook run as (created when absent)."""
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        # Another suite running at the same time may add it first: then this one fails.
        command = ["useradd", "--no-create-home", "--shell", "/bin/bash", USER]
        subprocess.run(command, check=False, timeout=30)
        return pwd.getpwnam(USER)


def copy_repository(target: Path) -> None:
    """The files a clone would hold (as this tree has them), plus the built lab extension.

    Copies keep their times, so the wheel build finds the lab extension up to date and
    does not run npm (Binder would build it; nothing here depends on it).
    """
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name, follow_symlinks=False)
    built = Path("kernel/toolkernel/labextension")
    shutil.copytree(ROOT / built, target / built, dirs_exist_ok=True)


def bin_without_sandboxes(target: Path) -> Path:
    """A stand-in for /usr/bin (which /bin links to here) without bwrap, firejail, nsjail."""
    target.mkdir()
    for entry in Path("/usr/bin").iterdir():
        if entry.name not in HIDDEN:
            (target / entry.name).symlink_to(entry)
    return target


def chown_tree(root: Path, user: pwd.struct_passwd) -> None:
    os.chown(root, user.pw_uid, user.pw_gid)
    for parent, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            os.chown(Path(parent) / name, user.pw_uid, user.pw_gid, follow_symlinks=False)


class BinderImage:
    """A work folder laid out like a repo2docker build, and commands run as its user."""

    def __init__(self, work: Path, user: pwd.struct_passwd) -> None:
        self.user = user
        self.repo = work / "repo"
        self.home = work / "home"
        self.venv = work / "venv"
        self.fake_bin = work / "bin"
        self.npm_cache = CACHE / "npm"
        self.postbuild_output = ""

    def env(self, **extra: str) -> dict[str, str]:
        network = {name: os.environ[name] for name in NETWORK if name in os.environ}
        return {
            **network,
            "PATH": f"{self.venv / 'bin'}{os.pathsep}{self.fake_bin}",
            "HOME": str(self.home),
            "USER": USER,
            "LANG": "C.UTF-8",
            "npm_config_cache": str(self.npm_cache),
            "npm_config_prefer_offline": "true",
            **extra,
        }

    def run(self, argv: list[str], *, timeout: float, **extra: str) -> str:
        """Run `argv` as the user in the repository; return its output, or fail with it."""
        done = subprocess.run(
            argv,
            cwd=self.repo,
            env=self.env(**extra),
            user=self.user.pw_uid,
            group=self.user.pw_gid,
            extra_groups=[],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, f"{argv} failed ({done.returncode}):\n{done.stdout[-6000:]}"
        return done.stdout


@pytest.fixture(scope="module")
def image() -> Iterator[BinderImage]:
    if os.geteuid() != 0:
        pytest.skip("needs root: it adds a `binder` user and runs postBuild as that user")
    if not SYSTEM_PYTHON.exists() or shutil.which("npm") is None:
        pytest.skip(f"needs {SYSTEM_PYTHON} (with venv) and npm, as a Binder image has")
    wheels = wheelhouse()
    user = binder_user()
    work = Path(tempfile.mkdtemp(prefix="toolkernel-binder-", dir="/var/tmp"))
    try:
        image = BinderImage(work, user)
        copy_repository(image.repo)
        image.home.mkdir()
        bin_without_sandboxes(image.fake_bin)
        image.npm_cache.mkdir(exist_ok=True)
        chown_tree(work, user)
        chown_tree(image.npm_cache, user)
        pip_offline = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)}
        image.run([str(SYSTEM_PYTHON), "-m", "venv", str(image.venv)], timeout=120)
        image.run(["pip", "install", "--quiet", *RUNNER_PACKAGES], timeout=180, **pip_offline)
        # The JupyterLab panel ships prebuilt (copied above): rebuilding it with npm takes a
        # minute and is tested elsewhere; nothing in this notebook depends on it.
        skip_panel_build = {"HATCH_JUPYTER_BUILDER_SKIP_NPM": "1"}
        image.postbuild_output = image.run(
            ["binder/postBuild"], timeout=420, **pip_offline, **skip_panel_build
        )
        yield image
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_the_stand_in_image_really_has_no_sandbox(image: BinderImage) -> None:
    path = image.env()["PATH"]
    assert {name: shutil.which(name, path=path) for name in HIDDEN} == dict.fromkeys(HIDDEN)
    assert image.user.pw_uid != 0


def test_postbuild_falls_back_to_rlimits_when_no_sandbox_starts(image: BinderImage) -> None:
    assert "bwrap: not installed" in image.postbuild_output
    assert "backend 'rlimits'" in image.postbuild_output
    kernel_json = image.venv / "share" / "jupyter" / "kernels" / "toolkernel" / "kernel.json"
    spec = json.loads(kernel_json.read_text(encoding="utf-8"))
    assert spec["env"] == {"TOOLKERNEL_SANDBOX_BACKEND": "rlimits"}
    assert not [arg for arg in spec["argv"] if "sandbox_backend" in arg]  # the env is enough
    assert Path(spec["argv"][0]).parent == image.venv / "bin"


def test_wasm_tools_notebook_runs_top_to_bottom_on_the_fallback(image: BinderImage) -> None:
    # jammy's clang cannot link wasm32-wasi (binder/apt.txt): C builds there use zig cc.
    site = next((image.venv / "lib").glob("python3*/site-packages"))
    config = image.home / ".jupyter" / "ipython_kernel_config.json"
    config.parent.mkdir()
    config.write_text(json.dumps({"ToolKernel": {"toolchain_path": str(site / "ziglang")}}))
    chown_tree(config.parent, image.user)
    runner = image.home / "run_notebook.py"
    runner.write_text(RUNNER, encoding="utf-8")
    executed = image.home / "executed.ipynb"
    examples = image.repo / "examples"
    start = ["binder/start", "python", str(runner), str(examples / "wasm_tools.ipynb")]
    image.run([*start, str(examples), str(executed)], timeout=600)

    cells = [c for c in nbformat.read(executed, as_version=4).cells if c.cell_type == "code"]
    errors = [o for c in cells for o in c.outputs if o.output_type == "error"]
    assert errors == []
    out = {c.source: text_of(c) for c in cells}
    assert "backend 'rlimits': limits, but NO isolation" in cell_starting(out, "import os")
    assert "primes: built" in cell_starting(out, "PRIMES_C")
    assert "WITHOUT isolation" in cell_starting(out, "PRIMES_C")
    assert "[2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47]" in cell_starting(
        out, "await tools.local.primes(limit=50)"
    )
    assert "[4, 25, 168, 1229]" in cell_starting(out, "import asyncio")
    assert "SandboxTimeout - " in cell_starting(out, "from toolkernel.errors import")
    assert "[2, 3, 5, 7]" in cell_starting(out, "await tools.local.primes.at(2)")
    zig_cache = image.home / ".local/share/jupyter/toolkernel/cache/toolchains/zig"
    assert any(zig_cache.iterdir()), "the C tool was not built with zig cc"


def text_of(cell: nbformat.NotebookNode) -> str:
    """What a cell showed: its streams and the plain text of its results."""
    parts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif "data" in output:
            parts.append(output.data.get("text/plain", ""))
    return "".join(parts)


def cell_starting(outputs: dict[str, str], prefix: str) -> str:
    matches = [text for source, text in outputs.items() if source.startswith(prefix)]
    assert len(matches) == 1, f"expected one cell starting {prefix!r}, found {len(matches)}"
    return matches[0]
