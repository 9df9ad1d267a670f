"""The interpreters dependency environments are built with, probed inside the sandbox.

An interpreter's identity (version, platform, real path) is part of an environment's
cache key, so a venv is never reused by a different Python.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from toolkernel.errors import DependencyError
from toolkernel_sandbox import SandboxError
from toolkernel_sandbox.process import ProcessPolicy, host_layout, run

__all__ = [
    "GIB",
    "SYSTEM_PATH",
    "Interpreter",
    "node_interpreter",
    "python_interpreter",
    "sandbox_hidden",
]

GIB = 2**30
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
"""The `PATH` of sandboxed installers and probes, after the interpreter's own dirs."""


@dataclass(frozen=True)
class Interpreter:
    """What an environment is built with, and what it is keyed by."""

    identity: str  # version, platform, real path: part of the cache key
    command: tuple[str, ...]  # how to start the installer (python, or npm)
    read_only: tuple[Path, ...]  # what the installer needs shown, outside the system dirs
    runtime: tuple[Path, ...]  # what a tool using the environment needs shown
    path_dirs: tuple[str, ...]  # directories the installer (and the tool) needs on PATH


def python_interpreter(python: str | None, deps: tuple[str, ...]) -> Interpreter:
    """Probe `python` (default `python3`) in the sandbox; venvs for `deps` are made with it.

    Raises:
        DependencyError: It is not found, or does not run in the sandbox.
    """
    path = shutil.which(python or "python3")
    if path is None:
        msg = f"the Python interpreter {python!r} was not found; pass EnvManager(python=...)"
        raise DependencyError(msg, kind="python", dependencies=deps)
    code = (
        "import json, os, platform, sys; print(json.dumps([platform.python_implementation(),"
        " sys.version, platform.machine(), sys.base_prefix, os.path.realpath("
        "getattr(sys, '_base_executable', sys.executable))]))"
    )
    # A venv's python links into its base installation: show both prefixes, found from
    # the configured interpreter itself (host data), never from a file a sandbox wrote.
    real = Path(os.path.realpath(path))
    home = sandbox_hidden(Path(path).parent.parent, real.parent.parent)
    identity = json.loads(_probe([path, "-c", code], home, (), "python", deps))
    base_prefix = sandbox_hidden(Path(identity[3]))
    return Interpreter(
        " ".join(identity), (path,), sandbox_hidden(*home, *base_prefix), base_prefix, ()
    )


def node_interpreter(npm: str | None, deps: tuple[str, ...]) -> Interpreter:
    """Probe `npm` (default: on `PATH`) and the `node` beside it, in the sandbox.

    Raises:
        DependencyError: Either is not found, or node does not run in the sandbox.
    """
    npm_path = shutil.which(npm or "npm")
    node = npm_path and shutil.which("node", path=str(Path(npm_path).parent))
    node = node or shutil.which("node")
    if npm_path is None or node is None:
        msg = (
            f"{'npm' if npm_path is None else 'node'} was not found on PATH; install "
            "Node.js 18 or newer with npm (Debian: apt-get install nodejs npm), or pass "
            "EnvManager(npm=...)"
        )
        raise DependencyError(msg, kind="node", dependencies=deps)
    node_home = sandbox_hidden(Path(node).parent.parent)
    npm_package = Path(os.path.realpath(npm_path)).parents[1]  # .../node_modules/npm
    homes = sandbox_hidden(*node_home, Path(npm_path).parent, npm_package)
    path_dirs = (str(Path(node).parent),) if node_home else ()
    code = "console.log([process.version, process.platform, process.arch].join(' '))"
    version = _probe([node, "-e", code], homes, path_dirs, "node", deps)
    identity = f"{version} {os.path.realpath(node)}"
    return Interpreter(identity, (npm_path,), homes, node_home, path_dirs)


def _probe(
    command: list[str],
    read_only: tuple[Path, ...],
    path_dirs: tuple[str, ...],
    kind: str,
    deps: tuple[str, ...],
) -> str:
    env = {"PATH": ":".join((*path_dirs, SYSTEM_PATH))}
    policy = ProcessPolicy(read_only=read_only, env=env, memory_bytes=4 * GIB, timeout_s=30)
    try:
        done = run(command, policy=policy)
    except SandboxError as exc:
        msg = f"could not run {command[0]} in the sandbox to check its version: {exc}"
        raise DependencyError(msg, kind=kind, dependencies=deps) from exc
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip()
        msg = f"{command[0]} failed in the sandbox (exit {done.returncode}): {err}"
        raise DependencyError(msg, kind=kind, dependencies=deps)
    return done.stdout.decode().strip()


def sandbox_hidden(*paths: Path) -> tuple[Path, ...]:
    """Those of `paths` the sandbox would hide: not in a system dir, nor inside another."""
    layout = host_layout()
    system = {p.name for p in layout.system_dirs} | {p.name for p, _ in layout.system_links}
    hidden = [p for p in paths if len(p.parts) > 1 and p.parts[1] not in system]
    return tuple(
        dict.fromkeys(p for p in hidden if not any(p != q and p.is_relative_to(q) for q in hidden))
    )
