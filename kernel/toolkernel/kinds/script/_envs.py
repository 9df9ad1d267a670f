"""Isolated dependency environments for script tools: a venv, or a `node_modules`.

    envs = EnvManager(home / "envs")
    env = envs.python_env(["requests>=2"], on_line=print)    # pip's progress, line by line
    env.bin_dirs, env.env, env.read_only                     # what the tool's sandbox needs

An environment is cached by the sha256 of its normalized dependency list (stripped,
deduplicated, sorted) and the interpreter's identity, at `<root>/python/<hash>/` or
`<root>/node/<hash>/`; every tool (and version) with the same dependencies shares it.
It is built in `<root>/<kind>/.tmp-<hash>-<random>/`, sealed with a `.complete` marker
and moved into place with one `os.replace`, so a half-made environment is never seen:
a directory without the marker counts as absent and is removed.

`ToolEnv.resolved` lists what an environment holds, as exact pins (`humanize==4.9.0`,
`left-pad@1.3.0`), read from its installed packages. Asked for exactly such a list, the
manager reuses an environment that holds it (a `.alias-<hash>` file names it), and
otherwise installs those pins: a tool version that recorded its pins gets them back
whatever its index serves today.

pip and npm run under `toolkernel_sandbox.process` with the network on and only the
build directory writable. They see no pip.conf or .npmrc of the host and share no
download cache (an install script could poison it for other tools); of the host
environment only proxy and registry settings (`_FORWARDED`) reach them, and the host's CA
bundle is trusted, for TLS-inspecting proxies. Dependencies are plain registry names and
versions; options, URLs, paths and VCS references are refused before anything runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkernel._nofollow import open_directory, read_inside, replace_in_file, write_new
from toolkernel.errors import DependencyError
from toolkernel.host._depspecs import check_package, check_requirement, normalized
from toolkernel.kinds.script._interpreters import (
    GIB,
    SYSTEM_PATH,
    Interpreter,
    node_interpreter,
    python_interpreter,
    sandbox_hidden,
)
from toolkernel_sandbox import SandboxError, TimeLimitExceeded
from toolkernel_sandbox.process import ProcessPolicy, run, share_writable

__all__ = ["EnvManager", "ToolEnv"]

_MARKER = ".complete"
_TAIL_LINES = 20
_FORWARDED = (
    *(f"{name}_proxy" for name in ("http", "https", "no", "all")),
    *(f"{name}_PROXY" for name in ("HTTP", "HTTPS", "NO", "ALL")),
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_TRUSTED_HOST",
    "PIP_DEFAULT_TIMEOUT",
    "NPM_CONFIG_REGISTRY",
    "npm_config_registry",
)
"""Host variables passed to pip and npm: how to reach a registry, never credentials
files. Their values are visible to install scripts, which run sandboxed."""
_CA_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
)

_BLANK = re.compile(r"[\s━─╸╺]*")  # empty, or only a progress bar
# npm lines that say nothing about this failure, or suggest specs we refuse.
_NOISE = re.compile(r"npm error (?:404\s*$|404 Note that|404 tarball|Log files were not)")


@dataclass(frozen=True)
class ToolEnv:
    """A ready dependency environment, and what a sandbox needs to use it.

    Attributes:
        kind: `python` (a venv) or `node` (a `node_modules` tree).
        path: The environment's root directory.
        bin_dirs: Directories to put first on the tool's `PATH` (the venv's `bin`, or
            `node_modules/.bin`).
        env: Variables the tool needs: `VIRTUAL_ENV`, or `NODE_PATH` (which `require`
            honours and ES `import` does not).
        read_only: Host paths to show the sandbox read-only: the environment, and the
            interpreter installation it links to when that is outside the system dirs.
        resolved: What it holds, as exact pins, sorted: pip `name==version` for every
            distribution but the venv's own pip and setuptools (unless asked for),
            npm `name@version` for every package at the top of `node_modules` (a
            package npm nests under another follows that one's range).
    """

    kind: str
    path: Path
    bin_dirs: tuple[Path, ...]
    env: dict[str, str]
    read_only: tuple[Path, ...]
    resolved: tuple[str, ...] = ()


class EnvManager:
    """Makes and caches per-dependency-set environments under one root directory.

    Thread-safe: concurrent requests for one environment build it once. Separate
    processes may race; the first to finish wins and the others use its environment.
    """

    def __init__(self, root: Path, *, python: str = sys.executable, npm: str | None = None) -> None:
        """Keep environments under `root` (`<toolkernel home>/envs`).

        Args:
            root: Where environments live; created on first use.
            python: The interpreter venvs are made from; its version is part of the key.
            npm: The npm to install with; default the one on `PATH`. The `node` beside
                it (else the one on `PATH`) is the one tools run with.
        """
        self.root = root
        self._python = python
        self._npm = npm
        self._interpreters: dict[str, Interpreter] = {}
        self._ready: dict[Path, ToolEnv] = {}
        self._lock = threading.Lock()
        self._building: dict[Path, threading.Lock] = {}

    def python_env(
        self,
        requirements: Sequence[str],
        *,
        on_line: Callable[[str], None] | None = None,
        timeout_s: float = 600,
    ) -> ToolEnv:
        """The venv holding `requirements`, made (with pip) on first request.

        A tool with no requirements needs no environment: callers run it on the plain
        interpreter instead of calling this.

        Args:
            requirements: PEP 508 names with optional extras and versions, such as
                `requests>=2` or `pandas[excel]==2.2.0`; at least one.
            on_line: Called with each line of installer output as it arrives (on a
                reader thread), for a live progress display.
            timeout_s: Wall-clock seconds for the whole build.

        Raises:
            DependencyError: A requirement was refused, or the install failed (the
                message ends with pip's last lines); nothing was left behind.
            ValueError: `requirements` is empty.
        """
        deps = normalized("python", requirements, check_requirement)
        return self._env("python", deps, on_line, timeout_s)

    def node_env(
        self,
        packages: Sequence[str],
        *,
        on_line: Callable[[str], None] | None = None,
        timeout_s: float = 600,
    ) -> ToolEnv:
        """The `node_modules` tree holding `packages`, made (with npm) on first request.

        Args:
            packages: npm names with optional versions or ranges, such as
                `left-pad@1.3.0` or `@scope/pkg@^1`; at least one.
            on_line: Called with each line of npm's output as it arrives.
            timeout_s: Wall-clock seconds for the whole install.

        Raises:
            DependencyError: A package was refused, npm is missing, or the install
                failed (the message ends with npm's last lines); nothing was left.
            ValueError: `packages` is empty.
        """
        deps = normalized("node", packages, check_package)
        return self._env("node", deps, on_line, timeout_s)

    # -- cache -------------------------------------------------------------------------

    def _env(
        self,
        kind: str,
        deps: tuple[str, ...],
        on_line: Callable[[str], None] | None,
        timeout_s: float,
    ) -> ToolEnv:
        interpreter = self._interpreter(kind, deps)
        job = self._job(kind, deps, interpreter, timeout_s)
        with self._lock:
            known = self._ready.get(job.final)
            building = self._building.setdefault(job.final, threading.Lock())
        if known is not None and (known.path / _MARKER).is_file():  # maybe another's (alias)
            return known
        with building:
            if _is_complete(job.final, job.record):
                env = _tool_env(job)
            else:
                env = self._aliased(job) or self._built(job, on_line)
            with self._lock:
                self._ready[job.final] = env
        return env

    def _job(
        self, kind: str, deps: tuple[str, ...], interpreter: Interpreter, timeout_s: float
    ) -> _Job:
        record = {"kind": kind, "dependencies": list(deps), "interpreter": interpreter.identity}
        key = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:32]
        return _Job(kind, deps, interpreter, self.root / kind / key, record, timeout_s)

    def _built(self, job: _Job, on_line: Callable[[str], None] | None) -> ToolEnv:
        """Build `job`, and let a request for exactly its pins find it (an alias)."""
        _build(job, on_line)
        env = _tool_env(job)
        if env.resolved and env.resolved != job.deps:
            pinned = self._job(job.kind, env.resolved, job.interpreter, job.timeout_s)
            alias = pinned.final.with_name(f".alias-{pinned.final.name}")
            with contextlib.suppress(OSError):  # a shortcut only: without it, pins rebuild
                _write_atomically(alias, json.dumps({"dependencies": list(job.deps)}))
        return env

    def _aliased(self, job: _Job) -> ToolEnv | None:
        """A complete environment holding exactly `job.deps` (pins), built from other specs."""
        alias = job.final.with_name(f".alias-{job.final.name}")
        try:
            target = json.loads(alias.read_text(encoding="utf-8"))["dependencies"]
            deps = normalized(job.kind, target, _CHECKS[job.kind])
        except (OSError, ValueError, KeyError, TypeError, DependencyError):
            return None
        found = self._job(job.kind, deps, job.interpreter, job.timeout_s)
        if not _is_complete(found.final, found.record):
            return None
        env = _tool_env(found)
        return env if env.resolved == job.deps else None

    # -- interpreters ------------------------------------------------------------------

    def _interpreter(self, kind: str, deps: tuple[str, ...]) -> Interpreter:
        with self._lock:
            found = self._interpreters.get(kind)
        if found is None:
            probe = python_interpreter if kind == "python" else node_interpreter
            found = probe(self._python if kind == "python" else self._npm, deps)
            with self._lock:
                self._interpreters[kind] = found
        return found


@dataclass(frozen=True)
class _Job:
    """One environment to find or build."""

    kind: str
    deps: tuple[str, ...]
    interpreter: Interpreter
    final: Path  # where it lives once complete
    record: dict[str, Any]  # what its marker holds
    timeout_s: float  # for the whole build

    def error(self, message: str, output: str = "") -> DependencyError:
        return DependencyError(message, kind=self.kind, dependencies=self.deps, output=output)


# -- building ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Step:
    what: str  # "<what> failed for [...]"
    command: list[str]
    env: dict[str, str]
    advice: str  # what to do when it fails


def _build(job: _Job, on_line: Callable[[str], None] | None) -> None:
    """Build `job` in a staging directory, seal it, and move it into place; or leave nothing."""
    staging = job.final.parent / f".tmp-{job.final.name}-{secrets.token_hex(4)}"
    deadline = time.monotonic() + job.timeout_s
    try:
        staging.mkdir(parents=True)
        share_writable(staging)
        steps = _python_steps if job.kind == "python" else _node_steps
        for step in steps(job, staging):
            policy = _install_policy(job, staging, step.env, deadline - time.monotonic())
            _run_step(job, step, policy, on_line)
        _relocate(job, staging)
        write_new(staging, _MARKER, json.dumps(job.record, indent=1).encode())
        _publish(staging, job.final, job.record)
    except OSError as exc:
        msg = f"could not write the {job.kind} environment in {job.final.parent}: {exc}"
        raise job.error(msg) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _python_steps(job: _Job, staging: Path) -> list[_Step]:
    python = str(staging / "bin" / "python")
    venv = [*job.interpreter.command, "-m", "venv", "--prompt", job.final.name, str(staging)]
    pip = [python, "-m", "pip", "install", "--no-input", "--progress-bar=off", "--no-compile"]
    env = {"PIP_CONFIG_FILE": os.devnull, "PIP_NO_CACHE_DIR": "1"}
    env |= {"PIP_DISABLE_PIP_VERSION_CHECK": "1", **_network_env("PIP_CERT")}
    # pyc files record their source path: compile them for where the venv will live.
    compile_all = [python, "-m", "compileall", "-q", "-f", "-s", str(staging)]
    compile_all += ["-p", str(job.final), str(staging / "lib")]
    return [
        _Step("python -m venv", venv, {}, _VENV_ADVICE),
        _Step("pip install", [*pip, "--", *job.deps], env, _PIP_ADVICE),
        _Step("python -m compileall", compile_all, {}, "it said"),
    ]


def _node_steps(job: _Job, staging: Path) -> list[_Step]:
    npm = [*job.interpreter.command, "install", "--no-audit", "--no-fund", "--no-package-lock"]
    env = {"npm_config_cache": str(staging / ".npm-cache"), "npm_config_update_notifier": "false"}
    env |= {"npm_config_logs_max": "0", **_network_env("NODE_EXTRA_CA_CERTS")}
    command = [*npm, "--prefix", str(staging), "--", *job.deps]
    return [_Step("npm install", command, env, _NPM_ADVICE)]


_VENV_ADVICE = "is Python's venv module there (Debian: apt-get install python3-venv)? It said"
_PIP_ADVICE = "check each name and version on https://pypi.org. pip said"
_NPM_ADVICE = "check each name and version on https://www.npmjs.com. npm said"


def _network_env(ca_variable: str) -> dict[str, str]:
    """Forwarded proxy and registry settings, and the host's CA bundle."""
    env = {name: os.environ[name] for name in _FORWARDED if name in os.environ}
    for candidate in (os.environ.get("SSL_CERT_FILE"), *_CA_BUNDLES):
        if candidate and Path(candidate).is_file():
            return {**env, ca_variable: candidate, "SSL_CERT_FILE": candidate}
    return env


def _install_policy(
    job: _Job, staging: Path, env: dict[str, str], remaining_s: float
) -> ProcessPolicy:
    timeout_s = max(remaining_s, 0.01)
    path = ":".join((str(staging / "bin"), *job.interpreter.path_dirs, SYSTEM_PATH))
    bundle = env.get("SSL_CERT_FILE", "/etc/ssl/")
    certs = (
        () if bundle.startswith("/etc/ssl/") else sandbox_hidden(Path(bundle))
    )  # /etc/ssl is shown
    return ProcessPolicy(
        network=True,
        read_only=(*job.interpreter.read_only, *certs),
        writable=(staging,),
        env={**env, "PATH": path},
        cpu_s=int(timeout_s) + 1,
        memory_bytes=4 * GIB,
        processes=256,
        file_size_bytes=4 * GIB,
        open_files=4096,
        timeout_s=timeout_s,
        stdout_bytes=64 * 2**20,
        stderr_bytes=64 * 2**20,
    )


def _run_step(
    job: _Job, step: _Step, policy: ProcessPolicy, on_line: Callable[[str], None] | None
) -> None:
    lines = _Lines(on_line)
    failed = f"{step.what} failed for {list(job.deps)}"
    try:
        done = run(step.command, policy=policy, on_stdout_line=lines, on_stderr_line=lines)
    except TimeLimitExceeded as exc:
        msg = (
            f"{failed}: the build ran past its {job.timeout_s:g} s limit and was stopped; "
            f"pass a larger timeout_s"
        )
        raise job.error(msg, lines.tail()) from exc
    except SandboxError as exc:
        msg = f"{failed}: {exc}"
        raise job.error(msg, lines.tail()) from exc
    if done.returncode != 0:
        tail = lines.tail()
        msg = f"{failed} (exit code {done.returncode}); {step.advice}:\n{tail}"
        raise job.error(msg, tail)


class _Lines:
    """Forwards installer output to `on_line`, and keeps its last meaningful lines."""

    def __init__(self, on_line: Callable[[str], None] | None) -> None:
        self._on_line = on_line
        self._lock = threading.Lock()  # stdout and stderr arrive on two threads
        self._tail: deque[str] = deque(maxlen=_TAIL_LINES)

    def __call__(self, line: str) -> None:
        text = line.rstrip()
        if _BLANK.fullmatch(text):
            return
        with self._lock:
            if not _NOISE.match(text):
                self._tail.append(text)
            if self._on_line is not None:
                self._on_line(text)

    def tail(self) -> str:
        with self._lock:
            return "\n".join(self._tail)


def _relocate(job: _Job, staging: Path) -> None:
    """Point the venv's scripts (shebangs, activate) at where it will live.

    The installer ran as sandboxed code and may have left links anywhere in `staging`:
    every file is opened relative to a directory fd, never following a link.
    """
    if job.kind != "python":
        shutil.rmtree(staging / ".npm-cache", ignore_errors=True)
        return
    old, new = str(staging).encode(), str(job.final).encode()
    with open_directory(staging) as root, open_directory(Path("bin"), root) as bin_dir:
        with os.scandir(bin_dir) as entries:  # a descriptor, so no path is followed
            names = [entry.name for entry in entries]
        for folder, name in [(bin_dir, n) for n in names] + [(root, "pyvenv.cfg")]:
            replace_in_file(folder, name, old, new)


def _publish(staging: Path, final: Path, record: dict[str, Any]) -> None:
    """Move `staging` to `final` in one step, unless another process got there first."""
    try:
        staging.replace(final)
    except OSError:
        if _is_complete(final, record):
            return  # another process won the race: use theirs
        staging.replace(final)  # the leftover in the way is gone now


def _is_complete(final: Path, record: dict[str, Any]) -> bool:
    """Whether `final` is a finished environment for `record`; a leftover is removed."""
    try:
        fd = os.open(final / _MARKER, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as file:
            found = json.loads(file.read(1 << 16))
    except (OSError, ValueError):
        found = None
    if found == record:
        return True
    if final.exists():
        shutil.rmtree(final, ignore_errors=True)
    return False


def _tool_env(job: _Job) -> ToolEnv:
    final, read_only = job.final, (job.final, *job.interpreter.runtime)
    if job.kind == "python":
        pins = _python_pins(final, job.deps)
        env = {"VIRTUAL_ENV": str(final)}
        return ToolEnv("python", final, (final / "bin",), env, read_only, pins)
    bins = (final / "node_modules" / ".bin", *map(Path, job.interpreter.path_dirs))
    env = {"NODE_PATH": str(final / "node_modules")}
    return ToolEnv("node", final, bins, env, read_only, _node_pins(final))


# -- what an environment holds ---------------------------------------------------------

_BOOTSTRAP = frozenset({"pip", "setuptools"})  # what `python -m venv` puts in every venv
_DIST_INFO = re.compile(r"([A-Za-z0-9][A-Za-z0-9._]*)-([A-Za-z0-9.!+_]+)\.dist-info")
_CHECKS = {"python": check_requirement, "node": check_package}


def _project(name: str) -> str:
    """A PyPI name in its normalized form (PEP 503): `Foo_Bar` -> `foo-bar`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _python_pins(venv: Path, deps: tuple[str, ...]) -> tuple[str, ...]:
    """`name==version` of each distribution in `venv`, from its `.dist-info` folder names.

    Only names are read (no file the installer wrote is opened), and no link followed.
    """
    asked = {_project(re.split(r"[\[<>=!~\s]", dep, maxsplit=1)[0]) for dep in deps}
    pins = set()
    for lib in _folders(venv / "lib"):
        for entry in _folders(lib / "site-packages"):
            found = _DIST_INFO.fullmatch(entry.name)
            if found is None:
                continue
            name, version = _project(found[1]), found[2]
            pin = f"{name}=={version}"
            if (name not in _BOOTSTRAP or name in asked) and check_requirement(pin) is None:
                pins.add(pin)
    return tuple(sorted(pins))


def _node_pins(root: Path) -> tuple[str, ...]:
    """`name@version` of each package at the top of `root/node_modules`."""
    pins = set()
    modules = root / "node_modules"
    for entry in _folders(modules):
        scoped = entry.name.startswith("@")
        for package in _folders(entry) if scoped else [entry]:
            relative = package.relative_to(modules).as_posix()
            data = read_inside(modules, f"{relative}/package.json", 1 << 20)
            try:
                meta = json.loads(data or b"")
                pin = f"{meta['name']}@{meta['version']}"
            except (ValueError, KeyError, TypeError):
                continue
            if meta["name"] == relative and check_package(pin) is None:
                pins.add(pin)
    return tuple(sorted(pins))


def _folders(path: Path) -> list[Path]:
    """The real folders (no links) in `path`, or none; hidden ones left out."""
    try:
        with os.scandir(path) as entries:
            return [
                Path(entry.path)
                for entry in entries
                if not entry.name.startswith(".") and entry.is_dir(follow_symlinks=False)
            ]
    except OSError:
        return []


def _write_atomically(path: Path, text: str) -> None:
    staging = path.with_name(f".tmp-{path.name}-{secrets.token_hex(4)}")
    try:
        staging.write_text(text, encoding="utf-8")
        staging.replace(path)
    finally:
        staging.unlink(missing_ok=True)


# -- checking ------------------------------------------------------------------------
