"""The `toolkernel` and `toolkernel-sandboxed` kernelspecs, written by pure functions.

This module imports only the standard library: the hatch build hook loads it by path
to ship `kernel.json` as wheel shared-data, and `toolkernel install-kernel` uses it to
install the spec into other prefixes.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = [
    "DISPLAY_NAME",
    "KERNEL_NAME",
    "SANDBOXED_DISPLAY_NAME",
    "SANDBOXED_KERNEL_NAME",
    "install_kernel_spec",
    "kernel_json",
    "sandboxed_kernel_json",
    "write_kernel_spec",
]

KERNEL_NAME = "toolkernel"
DISPLAY_NAME = "Toolkernel"
SANDBOXED_KERNEL_NAME = "toolkernel-sandboxed"
SANDBOXED_DISPLAY_NAME = "Toolkernel (sandboxed)"
_PROVISIONER = "toolkernel-sandboxed"
"""The `jupyter_client.kernel_provisioners` entry point of `SandboxedProvisioner`."""
_LOGO = Path(__file__).parent / "resources" / "logo-svg.svg"
"""The launcher tile's icon (JupyterLab shows a kernelspec's `logo-svg.svg`)."""


def kernel_json(executable: str = "python", *, display_name: str = DISPLAY_NAME) -> dict[str, Any]:
    """Return the `kernel.json` document.

    `-P` keeps the working directory off `sys.path` while the kernel starts, so a
    notebook folder holding a `tools.py` or `toolkernel/` cannot shadow our imports.
    """
    return {
        "argv": [executable, "-P", "-m", "toolkernel.launcher", "-f", "{connection_file}"],
        "display_name": display_name,
        "language": "python",
        "interrupt_mode": "signal",
        "metadata": {"debugger": True},
    }


def sandboxed_kernel_json(
    executable: str = "python", *, display_name: str = SANDBOXED_DISPLAY_NAME
) -> dict[str, Any]:
    """Return the `kernel.json` document of the sandboxed kernel.

    Its provisioner makes Jupyter speak to it over `ipc` sockets (it has no network);
    its launcher, `toolkernel.sandboxed`, starts the kernel under bubblewrap or
    firejail. Interrupts go as messages: a signal sent to the launcher's process group
    does not reach into the sandbox's session.
    """
    return {
        "argv": [executable, "-P", "-s", "-m", "toolkernel.sandboxed", "-f", "{connection_file}"],
        "display_name": display_name,
        "language": "python",
        "interrupt_mode": "message",
        "metadata": {"debugger": False, "kernel_provisioner": {"provisioner_name": _PROVISIONER}},
    }


def write_kernel_spec(
    destination: Path,
    *,
    executable: str = "python",
    display_name: str = DISPLAY_NAME,
    sandboxed: bool = False,
) -> Path:
    """Write `kernel.json` and the logo into `destination` (created if missing); return it."""
    destination.mkdir(parents=True, exist_ok=True)
    make = sandboxed_kernel_json if sandboxed else kernel_json
    spec = make(executable, display_name=display_name)
    (destination / "kernel.json").write_text(json.dumps(spec, indent=1) + "\n", encoding="utf-8")
    shutil.copyfile(_LOGO, destination / _LOGO.name)
    return destination


def install_kernel_spec(
    *,
    user: bool = False,
    prefix: str | None = None,
    name: str = KERNEL_NAME,
    display_name: str | None = None,
    sandboxed: bool = False,
) -> str:
    """Install the kernelspec for this interpreter and return the installed directory.

    Args:
        user: Install for the current user instead of system-wide.
        prefix: Install under this prefix (use `sys.prefix` for the active environment).
        name: Kernelspec name; give each extra environment its own.
        display_name: Name shown in JupyterLab's launcher; defaults to
            `Toolkernel` for the default name and `Toolkernel (<name>)` otherwise.
        sandboxed: Install the sandboxed kernel (`sandboxed_kernel_json`) instead.
    """
    from jupyter_client.kernelspec import KernelSpecManager  # noqa: PLC0415 - keep import light

    shown = display_name or _default_display_name(name)
    with tempfile.TemporaryDirectory() as tmp:
        source = write_kernel_spec(
            Path(tmp) / name, executable=sys.executable, display_name=shown, sandboxed=sandboxed
        )
        installed: str = KernelSpecManager().install_kernel_spec(
            str(source), kernel_name=name, user=user, prefix=prefix
        )
    return installed


def _default_display_name(name: str) -> str:
    known = {KERNEL_NAME: DISPLAY_NAME, SANDBOXED_KERNEL_NAME: SANDBOXED_DISPLAY_NAME}
    return known.get(name, f"{DISPLAY_NAME} ({name})")


def remove_kernel_spec(directory: Path) -> None:
    """Remove an installed kernelspec directory (used by tests and uninstall)."""
    shutil.rmtree(directory, ignore_errors=True)
