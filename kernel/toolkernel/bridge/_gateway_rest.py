"""What the bridge asks of a gateway's REST API, and how it reads the answers.

`GatewayTarget` names the server; `kernel_env` is the environment a start request asks
for (Enterprise Gateway passes it to the kernel); the rest turns the server's HTTP
answers into the bridge's errors, in words that say what to do.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import math
import os
from dataclasses import dataclass, field
from http.client import responses
from typing import Any

from tornado.httpclient import HTTPResponse

from toolkernel.errors import BridgeError

__all__ = [
    "GATEWAY_TOKEN_ENV_VAR",
    "GatewayTarget",
    "detail",
    "json_body",
    "kernel_env",
    "ok",
    "reason",
    "refused",
    "unreachable",
]

GATEWAY_TOKEN_ENV_VAR = "TOOLKERNEL_GATEWAY_TOKEN"  # noqa: S105 - a name, not a secret
"""Environment variable that holds the gateway token (safer than a command-line flag)."""


@dataclass(frozen=True)
class GatewayTarget:
    """Where the bridge's kernel runs: a Jupyter Server or a Kernel / Enterprise Gateway.

    Attributes:
        url: Base URL of the server, with its base path if it has one
            (`http://host:8888` or `https://hub.example/user/me`).
        token: Sent as `Authorization: token <token>`; empty for a server without auth.
        kernel_name: Kernelspec the server starts.
        env: Asked for in the kernel's environment, after this process's `KERNEL_*`
            variables (see `kernel_env`). Enterprise Gateway passes on `KERNEL_*` names
            and those its `client_envs` allows; Jupyter Server ignores them.
    """

    url: str
    token: str = field(default="", repr=False)
    kernel_name: str = "toolkernel"
    env: dict[str, str] = field(default_factory=dict, repr=False)


def kernel_env(target: GatewayTarget, timeout: float) -> dict[str, str]:
    """The environment the start request asks for (its `env`, as jupyter_server sends it).

    Like jupyter_server's own gateway client, this process's `KERNEL_*` variables go
    along (Enterprise Gateway reads `KERNEL_USERNAME`, `KERNEL_NAMESPACE`,
    `KERNEL_IMAGE`, ... and passes them to the kernel), then `target.env`. The user
    defaults to this process's, and the gateway is told to wait for the kernel as long as
    the bridge does (`KERNEL_LAUNCH_TIMEOUT`; Enterprise Gateway's default is 30 s).
    """
    env = {key: value for key, value in os.environ.items() if key.startswith("KERNEL_")}
    with contextlib.suppress(OSError, KeyError):  # a container user with no name
        env.setdefault("KERNEL_USERNAME", getpass.getuser())
    env.setdefault("KERNEL_LAUNCH_TIMEOUT", str(math.ceil(timeout)))
    env.update(target.env)
    return env


def ok(response: HTTPResponse) -> bool:
    """True for a 2xx answer."""
    return 200 <= response.code < 300


def json_body(response: HTTPResponse) -> dict[str, Any]:
    """The answer's JSON object; empty when it has none."""
    try:
        body = json.loads(response.body or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def reason(response: HTTPResponse) -> str:
    """`HTTP <code> <the server's words, or the status phrase>`, for an error message."""
    return f"HTTP {response.code} {detail(response) or response.reason}"


def detail(response: HTTPResponse) -> str:
    """The server's own words on an error; empty when it only named the status."""
    body = json_body(response)
    for key in ("message", "reason"):
        text = body.get(key)
        if isinstance(text, str) and text and text != responses.get(response.code):
            return text
    return ""


def refused(url: str, status: int) -> BridgeError:
    """The error for a token the server refused (401, or a bare 403)."""
    msg = (
        f"the gateway at {url} refused the token (HTTP {status}): pass the server's token "
        f"with --gateway-token or ${GATEWAY_TOKEN_ENV_VAR}"
    )
    return BridgeError(msg)


def unreachable(url: str, exc: Exception) -> BridgeError:
    """The error for a server that did not answer at all."""
    msg = (
        f"cannot reach the gateway at {url} ({type(exc).__name__}: {exc}): check "
        "--gateway-url and that the server is running"
    )
    return BridgeError(msg)
