"""Entry point of the Toolkernel kernel process (`python -P -m toolkernel.launcher`).

The working directory is dropped from `sys.path` before anything else is imported, so
a notebook folder can never shadow toolkernel, ipykernel or the generated `tools`.
"""

import sys
from pathlib import Path


def _drop_cwd_from_path() -> None:
    cwd = str(Path.cwd())
    sys.path[:] = [p for p in sys.path if p not in ("", ".", cwd)]


def main() -> None:
    """Start the kernel application with the Toolkernel kernel class."""
    _drop_cwd_from_path()
    from ipykernel.kernelapp import IPKernelApp  # noqa: PLC0415 - after the path is clean

    from toolkernel.kernel import ToolKernel  # noqa: PLC0415

    IPKernelApp.launch_instance(kernel_class=ToolKernel)


if __name__ == "__main__":
    main()
