"""Configuration: the toolkernel home, the `mcp.json` server list, and what a person trusts."""

from toolkernel.config._edit import check_server, persist_server
from toolkernel.config._home import toolkernel_home
from toolkernel.config._mcpjson import (
    CONFIG_ENV_VAR,
    HttpServer,
    InvalidServer,
    McpConfig,
    OAuthSettings,
    ServerConfig,
    StdioServer,
    find_config,
    load_config,
    parse_config,
)
from toolkernel.config._settings import (
    CONFIG_FILE,
    Toolkernel,
    read_config_files,
    toolkernel_settings,
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
    "CONFIG_FILE",
    "TRUST_FILE",
    "Approval",
    "HttpServer",
    "InvalidServer",
    "McpConfig",
    "OAuthSettings",
    "ServerConfig",
    "StdioServer",
    "ToolGrants",
    "Toolkernel",
    "TrustStore",
    "check_server",
    "config_summary",
    "content_digest",
    "find_config",
    "load_config",
    "parse_config",
    "persist_server",
    "read_config_files",
    "toolkernel_home",
    "toolkernel_settings",
    "trust_config",
]
