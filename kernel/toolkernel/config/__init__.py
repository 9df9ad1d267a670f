"""Configuration: the toolkernel home, the `mcp.json` server list, and what a person trusts."""

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
from toolkernel.config._trust import (
    TRUST_FILE,
    Approval,
    ToolGrants,
    TrustStore,
    config_summary,
    content_digest,
    trust_config,
)

__all__ = [
    "CONFIG_ENV_VAR",
    "TRUST_FILE",
    "Approval",
    "HttpServer",
    "InvalidServer",
    "McpConfig",
    "ServerConfig",
    "StdioServer",
    "ToolGrants",
    "TrustStore",
    "config_summary",
    "content_digest",
    "find_config",
    "load_config",
    "parse_config",
    "toolkernel_home",
    "trust_config",
]
