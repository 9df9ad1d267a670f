"""Cached, isolated virtualenvs for peer projects measured by the benchmarks.

``ensure_peer_venv("agent-codemode", ["agent-codemode==1.1.1"])`` creates
``benchmarks/.venvs/agent-codemode/`` once (``python3 -m venv`` + ``pip install``)
and returns the path of its python. A stamp file records the requirement list;
a later call with the same list returns at once without running anything.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

VENVS_DIR = Path(__file__).resolve().parent.parent / ".venvs"
STAMP = ".toolkernel-peer-stamp.json"


def _venv_python(venv: Path) -> Path:
    if os.name == "nt":  # pragma: no cover - not used here
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def ensure_peer_venv(
    name: str,
    requirements: list[str],
    *,
    base_python: str | None = None,
    timeout: float = 900.0,
) -> Path:
    """Return the python of ``benchmarks/.venvs/<name>/``, creating it if needed.

    Idempotent: when the stamp file matches ``requirements`` (order-insensitive)
    and the interpreter exists, nothing is run. Otherwise the venv is rebuilt from
    scratch. Every subprocess is bounded by ``timeout`` seconds.
    """
    if not name or "/" in name or name.startswith("."):
        msg = f"bad venv name: {name!r}"
        raise ValueError(msg)
    venv = VENVS_DIR / name
    py = _venv_python(venv)
    stamp_path = venv / STAMP
    wanted = {"requirements": sorted(requirements)}
    try:
        if py.exists() and json.loads(stamp_path.read_text()) == wanted:
            return py
    except (OSError, ValueError):
        pass

    if venv.exists():
        shutil.rmtree(venv)
    VENVS_DIR.mkdir(parents=True, exist_ok=True)
    base = base_python or shutil.which("python3") or sys.executable
    _run([base, "-m", "venv", str(venv)], timeout)
    if requirements:
        pip = [str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
        _run([*pip, *requirements], timeout)
    stamp_path.write_text(json.dumps(wanted))
    return py


class PeerInstallError(RuntimeError):
    """A peer venv could not be built; the message ends with the tail of the tool's output."""


def _run(cmd: list[str], timeout: float) -> None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        msg = f"{' '.join(cmd[:4])} ... did not finish in {timeout:.0f} s"
        raise PeerInstallError(msg) from None
    if done.returncode != 0:
        tail = " ".join((done.stderr or done.stdout).split())[-800:]
        msg = f"{' '.join(cmd[:4])} ... exited {done.returncode}: {tail}"
        raise PeerInstallError(msg)


if __name__ == "__main__":  # python benchmarks/peers/_venv.py NAME REQ...
    print(ensure_peer_venv(sys.argv[1], sys.argv[2:]))
