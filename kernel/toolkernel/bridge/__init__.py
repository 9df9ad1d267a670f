"""`toolkernel mcp`: an MCP server that gives any MCP client code mode over a live kernel.

Each name is imported on first use: the CLI reads `Bridge` (the options) to build its
parser for every command, and only `toolkernel mcp` itself loads the MCP SDK and the
kernel client behind the rest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from toolkernel.bridge._config import (
        Bridge,
        add_bridge_flags,
        bridge_flags,
        bridge_overrides,
        load_bridge,
    )
    from toolkernel.bridge._gateway import GATEWAY_TOKEN_ENV_VAR, GatewayTarget
    from toolkernel.bridge._http import (
        TOKEN_ENV_VAR,
        BearerGuard,
        SessionGate,
        resolve_token,
        transport_security,
    )
    from toolkernel.bridge._pool import KernelPool, PoolStats
    from toolkernel.bridge._reply import ReplyLimits, build_reply
    from toolkernel.bridge._run import run_bridge
    from toolkernel.bridge._server import INSTRUCTIONS, build_server
    from toolkernel.bridge._session import Execution, KernelSession
    from toolkernel.bridge._sessions import KernelHandle, SessionKernels

__all__ = [
    "GATEWAY_TOKEN_ENV_VAR",
    "INSTRUCTIONS",
    "TOKEN_ENV_VAR",
    "BearerGuard",
    "Bridge",
    "Execution",
    "GatewayTarget",
    "KernelHandle",
    "KernelPool",
    "KernelSession",
    "PoolStats",
    "ReplyLimits",
    "SessionGate",
    "SessionKernels",
    "add_bridge_flags",
    "bridge_flags",
    "bridge_overrides",
    "build_reply",
    "build_server",
    "load_bridge",
    "resolve_token",
    "run_bridge",
    "transport_security",
]

_MODULE_OF = {
    "Bridge": "_config",
    "add_bridge_flags": "_config",
    "bridge_flags": "_config",
    "bridge_overrides": "_config",
    "load_bridge": "_config",
    "GATEWAY_TOKEN_ENV_VAR": "_gateway",
    "GatewayTarget": "_gateway",
    "TOKEN_ENV_VAR": "_http",
    "BearerGuard": "_http",
    "resolve_token": "_http",
    "transport_security": "_http",
    "SessionGate": "_http",
    "KernelPool": "_pool",
    "PoolStats": "_pool",
    "ReplyLimits": "_reply",
    "build_reply": "_reply",
    "run_bridge": "_run",
    "INSTRUCTIONS": "_server",
    "build_server": "_server",
    "Execution": "_session",
    "KernelSession": "_session",
    "KernelHandle": "_sessions",
    "SessionKernels": "_sessions",
}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
