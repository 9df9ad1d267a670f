"""Configuration: the toolkernel home and the `mcp.json` server list."""

from toolkernel.config._home import toolkernel_home
from toolkernel.config._mcpjson import (
    CONFIG_ENV_VAR,
    HttpServer,
    InvalidServer,
    McpConfig,
    ServerConfig,
    StdioServer,
    find_config,
    load_config,
    parse_config,
)

__all__ = [
    "CONFIG_ENV_VAR",
    "HttpServer",
    "InvalidServer",
    "McpConfig",
    "ServerConfig",
    "StdioServer",
    "find_config",
    "load_config",
    "parse_config",
    "toolkernel_home",
]
