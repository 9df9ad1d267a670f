"""`Toolkernel`: where toolkernel keeps its state and finds its servers, for every part.

The kernel, the panel's server extension, the CLI and the bridge all read these two
options from one `Toolkernel` Configurable, so a home set once applies everywhere:

- in `toolkernel_config.py` (or `.json`) in any Jupyter config directory
  (`jupyter --paths`), as `c.Toolkernel.home = "..."`;
- or in a part's own config file (`ipython_kernel_config.py`,
  `jupyter_server_config.py`), which wins over `toolkernel_config`.
"""

from __future__ import annotations

from pathlib import Path

from jupyter_core.paths import jupyter_config_path
from traitlets import Unicode, default
from traitlets.config import Application, Config, Configurable

from toolkernel.config._home import toolkernel_home

__all__ = ["CONFIG_FILE", "Toolkernel", "read_config_files", "toolkernel_settings"]

CONFIG_FILE = "toolkernel_config"
"""The shared config file's name, without `.py` or `.json`."""


class Toolkernel(Configurable):
    """Where toolkernel keeps its state (`home`) and finds its servers (`mcp_config`)."""

    home = Unicode(
        help="The toolkernel home: the registry (registry.db), binding cache and server "
        "logs that kernels, the panel, the CLI and the bridge share. "
        "Default: $TOOLKERNEL_HOME, else <jupyter data dir>/toolkernel.",
    ).tag(config=True)
    mcp_config = Unicode(
        "",
        help="Path of the mcp.json to read. Default: $TOOLKERNEL_MCP_CONFIG, then "
        "./mcp.json (once trusted), then <home>/mcp.json.",
    ).tag(config=True)

    @default("home")
    def _default_home(self) -> str:
        return str(toolkernel_home())

    def home_path(self) -> Path:
        """`home` as a path, `~` expanded."""
        return Path(self.home).expanduser()

    def mcp_config_path(self) -> Path | None:
        """`mcp_config` as a path, or None to look it up."""
        return Path(self.mcp_config).expanduser() if self.mcp_config else None


class _ConfigReader(Application):
    name = "toolkernel"


def read_config_files(config_dirs: list[str] | None = None) -> Config:
    """Every `toolkernel_config.*` found, merged from lowest to highest priority.

    Args:
        config_dirs: Where to look, lowest priority first; default: Jupyter's config
            path (`jupyter --paths`), the user's directory last.
    """
    reader = _ConfigReader()
    dirs = config_dirs if config_dirs is not None else list(reversed(jupyter_config_path()))
    for folder in dirs:
        if any((Path(folder) / f"{CONFIG_FILE}{ext}").is_file() for ext in (".py", ".json")):
            reader.load_config_file(CONFIG_FILE, path=[folder])
    return reader.config


def toolkernel_settings(
    parent: Configurable | None = None, *, config_dirs: list[str] | None = None
) -> Toolkernel:
    """The `Toolkernel` options: `toolkernel_config.*` files, then `parent`'s own config.

    Args:
        parent: The part reading them (a kernel, a server extension); its config (from
            its own files and command line) wins over the shared files.
        config_dirs: As for `read_config_files`.
    """
    config = read_config_files(config_dirs)
    if parent is not None:
        config.merge(parent.config)
    return Toolkernel(config=config)
