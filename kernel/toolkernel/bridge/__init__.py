"""`toolkernel mcp`: an MCP server that gives any MCP client code mode over a live kernel."""

from toolkernel.bridge._config import Bridge, load_bridge
from toolkernel.bridge._gateway import GATEWAY_TOKEN_ENV_VAR, GatewayTarget
from toolkernel.bridge._http import TOKEN_ENV_VAR, BearerAndOriginGuard, resolve_token
from toolkernel.bridge._reply import ReplyLimits, build_reply
from toolkernel.bridge._run import BridgeOptions, run_bridge
from toolkernel.bridge._server import INSTRUCTIONS, build_server
from toolkernel.bridge._session import Execution, KernelSession

__all__ = [
    "GATEWAY_TOKEN_ENV_VAR",
    "INSTRUCTIONS",
    "TOKEN_ENV_VAR",
    "BearerAndOriginGuard",
    "Bridge",
    "BridgeOptions",
    "Execution",
    "GatewayTarget",
    "KernelSession",
    "ReplyLimits",
    "build_reply",
    "build_server",
    "load_bridge",
    "resolve_token",
    "run_bridge",
]
