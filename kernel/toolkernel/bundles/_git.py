"""Git and gist sources: recognise their URLs, and clone them inside the process sandbox.

`git clone --depth 1` runs under `toolkernel_sandbox.process` like every child process:
with the network only for remote URLs, a `file://` repository shown read-only, and only
the destination writable. A gist is a git repository too
(`https://gist.github.com/<user>/<id>` is cloned from `https://gist.github.com/<id>.git`).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

from toolkernel.bundles._paths import BundleLimits
from toolkernel.errors import BundleError

__all__ = ["GitSource", "clone", "git_source"]

_GIST = re.compile(r"^(?:https?://)?gist\.github\.com/(?:[\w-]+/)?([0-9a-fA-F]+)(?:\.git)?/?$")
_HOSTS = ("github.com", "gitlab.com", "bitbucket.org", "codeberg.org")
_FORWARDED = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
CLONE_TIMEOUT_S = 300.0


class GitSource:
    """A repository to clone: its URL and, optionally, a branch or tag (`url#branch`)."""

    def __init__(self, url: str, branch: str | None = None) -> None:
        self.url = url
        self.branch = branch

    def __repr__(self) -> str:
        return f"GitSource({self.url!r}, branch={self.branch!r})"

    @property
    def remote(self) -> bool:
        """Whether cloning needs the network (anything but `file://`)."""
        return not self.url.startswith("file://")


def git_source(text: str) -> GitSource | None:
    """Return the repository `text` names (git URL, `gist:<id>` or gist URL), else None."""
    text = text.strip()
    gist = _GIST.match(text)
    if gist or text.startswith("gist:"):
        gist_id = gist.group(1) if gist else text.removeprefix("gist:").strip()
        if not re.fullmatch(r"[0-9a-fA-F]+", gist_id):
            msg = f"{text!r} is not a gist: a gist id is hexadecimal"
            raise BundleError(msg, path=text)
        return GitSource(f"https://gist.github.com/{gist_id}.git")
    url, _, branch = text.partition("#")
    url = url.removeprefix("git+")
    parts = urlsplit(url)
    is_git = (
        url.startswith(("git@", "file://", "ssh://", "git://"))
        or (parts.scheme in ("http", "https") and url.endswith(".git"))
        or (parts.scheme == "https" and parts.hostname in _HOSTS)
    )
    if not is_git:
        return None
    if branch and not re.fullmatch(r"[\w./-]+", branch):
        msg = f"{branch!r} is not a branch or tag name"
        raise BundleError(msg, path=text)
    return GitSource(url, branch or None)


def clone(source: GitSource, destination: Path, limits: BundleLimits) -> Path:
    """Clone `source` (one commit deep) into `destination`, which must not exist.

    Raises:
        BundleError: git is missing, the clone failed (git's message is included), or
            the checkout is over `limits`.
    """
    from toolkernel_sandbox import SandboxError  # noqa: PLC0415 - sandbox loads on use
    from toolkernel_sandbox.process import ProcessPolicy, run, share_writable  # noqa: PLC0415

    git = shutil.which("git")
    if git is None:
        msg = "git is not installed; install it (Debian: apt-get install git) to import from git"
        raise BundleError(msg, path=source.url)
    parent = destination.parent
    parent.mkdir(parents=True, exist_ok=True)
    share_writable(parent)
    command = [git, "clone", "--depth", "1", "--quiet", "--no-tags"]
    if source.branch:
        command += ["--branch", source.branch]
    command += ["--", source.url, str(destination)]
    read_only = () if source.remote else (Path(urlsplit(source.url).path),)
    if read_only and not read_only[0].exists():
        msg = f"git clone {source.url}: there is no repository at {read_only[0]}"
        raise BundleError(msg, path=source.url)
    # A local repository belongs to another user than the sandbox's; git trusts it only
    # through global config (not `-c`), so a private global config says so.
    config = parent / "gitconfig"
    config.write_text("[safe]\n\tdirectory = *\n", encoding="utf-8")
    policy = ProcessPolicy(
        network=source.remote,
        read_only=read_only,
        writable=(parent,),
        env=_git_env() | {"GIT_CONFIG_GLOBAL": str(config), "GIT_CONFIG_NOSYSTEM": "1"},
        timeout_s=CLONE_TIMEOUT_S,
        file_size_bytes=limits.file_bytes,
        memory_bytes=2 * 2**30,
    )
    try:
        done = run(command, policy=policy)
    except SandboxError as exc:
        msg = f"git clone {source.url} was stopped: {exc}"
        raise BundleError(msg, path=source.url) from exc
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip()
        msg = f"git clone {source.url} failed (exit {done.returncode}): {said}"
        raise BundleError(msg, path=source.url)
    shutil.rmtree(destination / ".git", ignore_errors=True)
    return destination


def _git_env() -> dict[str, str]:
    """Proxies only; git never prompts (there is no terminal to answer it)."""
    env = {name: os.environ[name] for name in _FORWARDED if name in os.environ}
    return env | {"GIT_TERMINAL_PROMPT": "0"}
