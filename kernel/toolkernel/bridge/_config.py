"""The bridge's options as traitlets (`c.Bridge.<name>`), and the flags made from them.

`toolkernel mcp` reads `toolkernel_config.py` (or `.json`) from every Jupyter config
directory (`jupyter --paths`), later ones overriding earlier ones, and then applies the
command-line flags, which override the files. `Bridge` is the one definition of the
options: `add_bridge_flags` derives each flag from a trait, so a new trait is a new flag.

This module stays light (traitlets and jupyter_core only): the CLI imports it for every
command, to build its parser.
"""

from __future__ import annotations

import argparse
from typing import Any

from traitlets import Bool, Enum, Float, Int, List, TraitType, Unicode
from traitlets.config import Configurable

from toolkernel.config._settings import CONFIG_FILE, read_config_files

__all__ = [
    "CONFIG_FILE",
    "Bridge",
    "add_bridge_flags",
    "bridge_flags",
    "bridge_overrides",
    "load_bridge",
]


class Bridge(Configurable):
    """Options of `toolkernel mcp`; each is also a flag (`add_bridge_flags`)."""

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
    gateway_token = Unicode(
        "", help="The gateway's token; if empty, $TOOLKERNEL_GATEWAY_TOKEN."
    ).tag(config=True)
    gateway_env = List(
        Unicode(),
        help="NAME=VALUE asked for in the environment of each kernel the gateway starts "
        "(Enterprise Gateway passes on KERNEL_* names and those its client_envs allows), "
        "e.g. KERNEL_USERNAME=ada or TOOLKERNEL_MCP_CONFIG=/etc/toolkernel/mcp.json.",
    ).tag(config=True)
    kernel_name = Unicode("toolkernel", help="Kernelspec of the kernel to start.").tag(config=True)
    sandbox = Bool(
        False,
        help="Start the sandboxed kernel (toolkernel-sandboxed): the code runs with no "
        "network, no credentials and no host files, while tools run in its tool host "
        "outside the sandbox, and approvals the host asks for come to this client.",
    ).tag(config=True)
    # The two caps repeat `ReplyLimits`' defaults (importing it would load the MCP SDK
    # into every CLI command); a test keeps them equal.
    output_cap = Int(
        20_000, help="Characters of output a reply holds; the rest stays in a kernel variable."
    ).tag(config=True)
    image_cap = Int(
        1_000_000,
        help="Bytes (base64) of one image a reply holds; larger ones stay in the kernel.",
    ).tag(config=True)
    keepalive_s = Float(10.0, help="Seconds between progress keepalives while a cell runs.").tag(
        config=True
    )
    allow_origins = List(
        Unicode(), help="Browser origins allowed over HTTP, besides the bridge's own."
    ).tag(config=True)
    allow_hosts = List(
        Unicode(),
        help="Host headers allowed over HTTP besides the bound address's, as name:port "
        "(name:* for any port); for a proxy's name or a wildcard bind's addresses.",
    ).tag(config=True)
    max_tool_calls = Int(
        0,
        help="The most tool calls one execute_code may make; one more raises ToolCallLimit "
        "in the cell. 0: the kernel's own cap (c.Toolbox.max_tool_calls; none by default).",
    ).tag(config=True)
    pool_size = Int(
        2,
        help="Over HTTP, kernels kept started and ready for new sessions (each session "
        "gets its own kernel); 0 starts each session's kernel when it opens. stdio has one.",
    ).tag(config=True)
    session_idle_timeout = Float(
        1800.0,
        help="Over HTTP, seconds a session may go without a request before its kernel is "
        "shut down (a client coming back is told its state is gone); 0 never.",
    ).tag(config=True)
    max_sessions = Int(
        16,
        help="Over HTTP, the most sessions (so kernels) at once; a new one beyond it is "
        "refused with HTTP 503 and says why. 0: no limit.",
    ).tag(config=True)
    expose_tools = Bool(
        False, help="Also publish every tool as an MCP tool, with list_changed updates."
    ).tag(config=True)
    lifecycle_tools = Bool(
        False,
        help="Also offer create_tool, memory, tool_versions, diff_tool, rollback_tool, "
        "delete_tool, restore_tool, add_server and remove_server as MCP tools (each is "
        "callable inside execute_code without it).",
    ).tag(config=True)


def load_bridge(
    overrides: dict[str, Any] | None = None, *, config_dirs: list[str] | None = None
) -> Bridge:
    """Return the bridge's options: config files first, then `overrides` (given flags).

    Args:
        overrides: Option values by name, from the command line; None values are ignored.
        config_dirs: Where to look for `toolkernel_config.*`; default: Jupyter's config
            path, searched from lowest to highest priority.

    Raises:
        ValueError: A key of `overrides` is not a `Bridge` option.
        traitlets.TraitError: A value is not valid for its option.
    """
    options = Bridge.class_traits(config=True)
    unknown = sorted(set(overrides or {}) - set(options))
    if unknown:
        msg = f"no bridge option named {', '.join(unknown)}; options: {', '.join(sorted(options))}"
        raise ValueError(msg)
    bridge = Bridge(config=read_config_files(config_dirs))
    for key, value in (overrides or {}).items():
        if value is not None:
            setattr(bridge, key, value)
    return bridge


def bridge_flags() -> dict[str, str]:
    """Each `Bridge` option's flag, by option name, in the order the class defines them.

    The flag is the name with dashes (`output_cap` is `--output-cap`); a list option is
    a repeatable flag named in the singular (`allow_origins` is `--allow-origin`).
    """
    traits = Bridge.class_traits(config=True)
    return {name: _flag(name, traits[name]) for name in vars(Bridge) if name in traits}


def add_bridge_flags(parser: argparse.ArgumentParser) -> None:
    """Give `parser` one flag per `Bridge` option; read the values with `bridge_overrides`.

    A flag not given parses as None, which `load_bridge` ignores, so the config files'
    value stands. A boolean option also gets its `--no-` form.

    Raises:
        TypeError: An option's trait type has no flag form yet (add it here).
    """
    traits = Bridge.class_traits(config=True)
    for name, flag in bridge_flags().items():
        trait = traits[name]
        repeatable = "repeatable; " if isinstance(trait, List) else ""
        default = f"({repeatable}default: {trait.default_value_repr()})"
        helptext = f"{trait.help} {default}".replace("%", "%%")
        parser.add_argument(flag, dest=name, default=None, help=helptext, **_parsing(name, trait))


def bridge_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The `Bridge` option values in `args` parsed by `add_bridge_flags`; None if not given."""
    return {name: getattr(args, name, None) for name in bridge_flags()}


def _flag(name: str, trait: TraitType[Any, Any]) -> str:
    stem = name.removesuffix("s") if isinstance(trait, List) else name
    return "--" + stem.replace("_", "-")


def _parsing(name: str, trait: TraitType[Any, Any]) -> dict[str, Any]:
    if isinstance(trait, Enum):
        return {"choices": list(trait.values or ())}
    if isinstance(trait, Bool):
        return {"action": argparse.BooleanOptionalAction}
    if isinstance(trait, List):
        return {"action": "append", "metavar": name.removesuffix("s").upper()}
    for kind, convert in ((Int, int), (Float, float), (Unicode, str)):
        if isinstance(trait, kind):
            return {"type": convert}
    msg = f"Bridge option of type {type(trait).__name__} has no command-line form; add it here"
    raise TypeError(msg)
