"""The bridge's options as traitlets (`c.Bridge.<name>`), read from Jupyter's config dirs.

`toolkernel mcp` reads `toolkernel_config.py` (or `.json`) from every Jupyter config
directory (`jupyter --paths`), later ones overriding earlier ones, and then applies the
command-line flags, which override the files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_config_path
from traitlets import Bool, Enum, Float, Int, List, Unicode
from traitlets.config import Application, Configurable

from toolkernel.bridge._reply import ReplyLimits

__all__ = ["CONFIG_FILE", "Bridge", "load_bridge"]

CONFIG_FILE = "toolkernel_config"
"""The config file's base name; `toolkernel_config.py` or `toolkernel_config.json`."""


class Bridge(Configurable):
    """Options of `toolkernel mcp`; each has a command-line flag of the same meaning."""

    transport = Enum(["stdio", "http"], "stdio", help="stdio, or http (streamable HTTP).").tag(
        config=True
    )
    host = Unicode(
        "127.0.0.1", help="HTTP address; a non-loopback one needs TOOLKERNEL_BRIDGE_TOKEN."
    ).tag(config=True)
    port = Int(8848, help="HTTP port.").tag(config=True)
    connection_file = Unicode(
        "", help="Drive the running kernel of this connection file instead of starting one."
    ).tag(config=True)
    gateway_url = Unicode(
        "", help="Start the kernel on this Jupyter Server / Kernel or Enterprise Gateway."
    ).tag(config=True)
    kernel_name = Unicode("toolkernel", help="Kernelspec of the kernel to start.").tag(config=True)
    output_cap = Int(
        ReplyLimits.output_chars,
        help="Characters of output a reply holds; the rest stays in a kernel variable.",
    ).tag(config=True)
    image_cap = Int(
        ReplyLimits.image_bytes,
        help="Bytes (base64) of one image a reply holds; larger ones stay in the kernel.",
    ).tag(config=True)
    keepalive_s = Float(10.0, help="Seconds between progress keepalives while a cell runs.").tag(
        config=True
    )
    allow_origins = List(
        Unicode(), help="Browser origins allowed over HTTP, besides the bridge's own."
    ).tag(config=True)
    expose_tools = Bool(
        False, help="Also publish every tool as an MCP tool, with list_changed updates."
    ).tag(config=True)


class _BridgeApp(Application):
    name = "toolkernel"
    classes = [Bridge]  # noqa: RUF012 - traitlets reads it as a class attribute


def load_bridge(
    overrides: dict[str, Any] | None = None, *, config_dirs: list[str] | None = None
) -> Bridge:
    """Return the bridge's options: config files first, then `overrides` (given flags).

    Args:
        overrides: Option values from the command line; None values are ignored.
        config_dirs: Where to look for `toolkernel_config.*`; default: Jupyter's config
            path, searched from lowest to highest priority.
    """
    app = _BridgeApp()
    dirs = config_dirs if config_dirs is not None else list(reversed(jupyter_config_path()))
    for folder in dirs:
        if any((Path(folder) / f"{CONFIG_FILE}{ext}").is_file() for ext in (".py", ".json")):
            app.load_config_file(CONFIG_FILE, path=[folder])
    bridge = Bridge(config=app.config)
    for key, value in (overrides or {}).items():
        if value is not None:
            setattr(bridge, key, value)
    return bridge
