"""Where toolkernel keeps its registry, caches and default `mcp.json`."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["toolkernel_home"]


def toolkernel_home() -> Path:
    """Return the toolkernel home: `$TOOLKERNEL_HOME`, else `<jupyter_data_dir>/toolkernel`.

    The directory is not created here; whoever writes into it does that.
    """
    env = os.environ.get("TOOLKERNEL_HOME")
    if env:
        return Path(env).expanduser()
    from jupyter_core.paths import jupyter_data_dir  # noqa: PLC0415 - cheap, but only when needed

    return Path(jupyter_data_dir()) / "toolkernel"
