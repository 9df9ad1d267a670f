"""The host filesystem a sandbox is built from: system directories, a minimal /etc."""

from __future__ import annotations

import functools
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from toolkernel_sandbox._errors import SandboxUnavailable

__all__ = ["HostLayout", "host_layout"]

_SYSTEM_NAMES = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")

# What interpreters, compilers and TLS need from /etc; never shadow, sudoers or ssh.
_ETC_NAMES = (
    "alternatives",
    "ca-certificates",
    "ca-certificates.conf",
    "gai.conf",
    "group",
    "host.conf",
    "hostname",
    "hosts",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "mime.types",
    "nsswitch.conf",
    "os-release",
    "passwd",
    "perl",
    "protocols",
    "resolv.conf",
    "services",
    "ssl",
    "timezone",
)
_ETC_PATTERNS = ("python3*",)


@dataclass(frozen=True)
class HostLayout:
    """The parts of the host that every sandbox shows, found once per process.

    The argv builders take one, so tests can pass a fixed layout and get a fixed argv.

    Attributes:
        system_dirs: Real system directories, shown read-only (`/usr`, `/lib64`, ...).
        system_links: Merged-/usr symlinks to recreate inside, as (link, target) pairs,
            such as (`/bin`, `usr/bin`).
        etc_entries: The minimal `/etc`: the entries of it that exist here.
        top_level: Every entry of `/`; backends that hide by exclusion hide those that
            are not system directories.
        run_entries: The entries of `/run`; firejail needs its own `/run/firejail`, so
            it hides the others one by one.
        privileged: Whether this process is root; if so, code is run as uid 65534.
        env: coreutils `env`, which clears what firejail adds to the environment.
        setpriv: util-linux `setpriv`, which drops to uid 65534 inside the sandbox.
        prlimit: util-linux `prlimit`, which sets the process limit inside the sandbox.
    """

    system_dirs: tuple[Path, ...]
    system_links: tuple[tuple[Path, str], ...]
    etc_entries: tuple[Path, ...]
    top_level: tuple[Path, ...]
    run_entries: tuple[Path, ...]
    privileged: bool
    env: str = "/usr/bin/env"
    setpriv: str = "/usr/bin/setpriv"
    prlimit: str = "/usr/bin/prlimit"

    @property
    def system_names(self) -> frozenset[str]:
        """The top-level names every sandbox shows: system dirs, links and kernel dirs."""
        shown = {p.name for p in self.system_dirs} | {p.name for p, _ in self.system_links}
        return frozenset(shown | {"etc", "proc", "sys", "dev", "tmp"})


@functools.cache
def host_layout() -> HostLayout:
    """This machine's layout (cached for the life of the process).

    Raises:
        SandboxUnavailable: `setpriv`, `prlimit` (util-linux) or `env` is missing.
    """
    root = Path("/")
    dirs, links = _system_entries(root)
    return HostLayout(
        system_dirs=dirs,
        system_links=links,
        etc_entries=_etc_entries(root / "etc"),
        top_level=tuple(sorted(root.iterdir())),
        run_entries=tuple(sorted((root / "run").iterdir())) if (root / "run").is_dir() else (),
        privileged=os.geteuid() == 0,
        env=_system_tool("env", "coreutils"),
        setpriv=_system_tool("setpriv", "util-linux"),
        prlimit=_system_tool("prlimit", "util-linux"),
    )


def _system_entries(root: Path) -> tuple[tuple[Path, ...], tuple[tuple[Path, str], ...]]:
    dirs: list[Path] = []
    links: list[tuple[Path, str]] = []
    for name in _SYSTEM_NAMES:
        path = root / name
        if path.is_symlink():
            links.append((path, str(path.readlink())))
        elif path.is_dir():
            dirs.append(path)
    return tuple(dirs), tuple(links)


def _etc_entries(etc: Path) -> tuple[Path, ...]:
    found = {etc / name for name in _ETC_NAMES if (etc / name).exists()}
    for pattern in _ETC_PATTERNS:
        found.update(etc.glob(pattern))
    return tuple(sorted(found))


def _system_tool(name: str, package: str) -> str:
    found = shutil.which(name, path="/usr/bin:/bin:/usr/sbin:/sbin")
    if found is None:
        msg = f"{name!r} is missing and the sandbox needs it; apt-get install {package}"
        raise SandboxUnavailable(msg)
    return found
