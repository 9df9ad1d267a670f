"""The `toolkernel` kernelspec, written by pure functions.

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

__all__ = ["DISPLAY_NAME", "KERNEL_NAME", "install_kernel_spec", "kernel_json", "write_kernel_spec"]

KERNEL_NAME = "toolkernel"
DISPLAY_NAME = "Toolkernel"
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


def write_kernel_spec(
    destination: Path, *, executable: str = "python", display_name: str = DISPLAY_NAME
) -> Path:
    """Write `kernel.json` and the logo into `destination` (created if missing); return it."""
    destination.mkdir(parents=True, exist_ok=True)
    spec = kernel_json(executable, display_name=display_name)
    (destination / "kernel.json").write_text(json.dumps(spec, indent=1) + "\n", encoding="utf-8")
    shutil.copyfile(_LOGO, destination / _LOGO.name)
    return destination


def install_kernel_spec(
    *,
    user: bool = False,
    prefix: str | None = None,
    name: str = KERNEL_NAME,
    display_name: str | None = None,
) -> str:
    """Install the kernelspec for this interpreter and return the installed directory.

    Args:
        user: Install for the current user instead of system-wide.
        prefix: Install under this prefix (use `sys.prefix` for the active environment).
        name: Kernelspec name; give each extra environment its own.
        display_name: Name shown in JupyterLab's launcher; defaults to
            `Toolkernel` for the default name and `Toolkernel (<name>)` otherwise.
    """
    from jupyter_client.kernelspec import KernelSpecManager  # noqa: PLC0415 - keep import light

    shown = display_name or (DISPLAY_NAME if name == KERNEL_NAME else f"{DISPLAY_NAME} ({name})")
    with tempfile.TemporaryDirectory() as tmp:
        source = write_kernel_spec(Path(tmp) / name, executable=sys.executable, display_name=shown)
        installed: str = KernelSpecManager().install_kernel_spec(
            str(source), kernel_name=name, user=user, prefix=prefix
        )
    return installed


def remove_kernel_spec(directory: Path) -> None:
    """Remove an installed kernelspec directory (used by tests and uninstall)."""
    shutil.rmtree(directory, ignore_errors=True)
