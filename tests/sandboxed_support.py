"""The `toolkernel-sandboxed` kernelspec and its provisioner, set up for a test run."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

from toolkernel.kernelspec import SANDBOXED_KERNEL_NAME, install_kernel_spec
from toolkernel.sandboxed import PROVISIONER_NAME

GROUP = "jupyter_client.kernel_provisioners"


def provisioner_site(base: Path) -> Path | None:
    """A folder to put on `sys.path` that registers the provisioner, or None if installed.

    An environment installed before the entry point existed lacks it; this dist-info
    declares the same entry point as pyproject.toml.
    """
    if entry_points(group=GROUP, name=PROVISIONER_NAME):
        return None
    info = base / "toolkernel_sandboxed_entry-0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toolkernel-sandboxed-entry\n")
    (info / "entry_points.txt").write_text(
        f"[{GROUP}]\n{PROVISIONER_NAME} = toolkernel.sandboxed:SandboxedProvisioner\n"
    )
    return base


def sandboxed_spec(prefix: Path) -> Path:
    """Install the sandboxed kernelspec under `prefix`; return the folder for JUPYTER_PATH."""
    install_kernel_spec(prefix=str(prefix), name=SANDBOXED_KERNEL_NAME, sandboxed=True)
    return prefix / "share" / "jupyter"
