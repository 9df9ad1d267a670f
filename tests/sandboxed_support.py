"""The `toolkernel-sandboxed` kernelspec and its provisioner, set up for a test run."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

from toolkernel.kernelspec import SANDBOXED_KERNEL_NAME, install_kernel_spec
from toolkernel.sandboxed import PROVISIONER_NAME

GROUP = "jupyter_client.kernel_provisioners"


def provisioner_site(base: Path) -> Path | None:
    """None once the provisioner's entry point is installed (what the callers add to
    `sys.path` otherwise); a missing one is an install step to run, not to paper over.
    """
    if entry_points(group=GROUP, name=PROVISIONER_NAME):
        return None
    msg = (
        f"the {PROVISIONER_NAME!r} kernel provisioner is not installed in this environment: "
        f"run `bash .ci/setup` (it reinstalls toolkernel with its entry points); {base} unused"
    )
    raise RuntimeError(msg)


def sandboxed_spec(prefix: Path) -> Path:
    """Install the sandboxed kernelspec under `prefix`; return the folder for JUPYTER_PATH."""
    install_kernel_spec(prefix=str(prefix), name=SANDBOXED_KERNEL_NAME, sandboxed=True)
    return prefix / "share" / "jupyter"
