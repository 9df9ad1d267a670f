"""Entry point of the Toolkernel kernel process (`python -P -m toolkernel.launcher`).

Before anything else is imported:
- the working directory is dropped from `sys.path`, so a notebook folder can never
  shadow toolkernel, ipykernel or the generated `tools`;
- the kernel's own environment is put first on `PATH`, as activating it would, so
  `"command": "python"` in an `mcp.json`, and `!pip` or `!python` in a cell, mean this
  environment's interpreter even when Jupyter was started as `.venv/bin/jupyter lab`
  from a shell where the environment is not active.

The application is `ToolKernelApp` (ipykernel's, with subshells optional). Its stdout
and stderr are `ToolOutStream`s, which skip ipykernel's wait on a flush with nothing to
send.
"""

import os
import sys
import sysconfig
from pathlib import Path


def _drop_cwd_from_path() -> None:
    cwd = str(Path.cwd())
    sys.path[:] = [p for p in sys.path if p not in ("", ".", cwd)]


def activated_path(path: str, scripts: str) -> str:
    """`path` (a `PATH` value) with `scripts` first, and no second copy of it."""
    rest = [entry for entry in path.split(os.pathsep) if entry and entry != scripts]
    return os.pathsep.join([scripts, *rest])


def _activate_environment() -> None:
    scripts = sysconfig.get_path("scripts")
    if scripts and Path(scripts).is_dir():
        os.environ["PATH"] = activated_path(os.environ.get("PATH", os.defpath), scripts)


def main() -> None:
    """Start the kernel application with the Toolkernel kernel class."""
    _drop_cwd_from_path()
    _activate_environment()
    from toolkernel.kernel import ToolKernel  # noqa: PLC0415 - after the path is clean
    from toolkernel.kernel._app import ToolKernelApp  # noqa: PLC0415

    ToolKernelApp.launch_instance(
        kernel_class=ToolKernel, outstream_class="toolkernel.kernel._iostream.ToolOutStream"
    )


if __name__ == "__main__":
    main()
