"""Helpers shared by the test MCP servers in this folder.

- `png_bytes` / `checker_png`: real PNG files built with zlib and struct (no PIL).
- `add_transport_arguments` / `serve`: the common `--transport stdio|http --host H --port N`
  command line. Over HTTP the server listens on streamable HTTP at `http://H:N/mcp` and,
  once it accepts connections, prints one line `READY http://H:N/mcp` to stderr. `--port 0`
  picks a free port; read it from that line.
- `advertise_tools_list_changed`: makes the server declare `tools.listChanged` in its
  `initialize` result, which `MCPServer` (mcp 2.3.0) never does on its own.

The server scripts import this module by its bare name: running
`python tests/servers/<name>.py` puts this folder first on `sys.path`.
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys
import zlib
from collections.abc import Callable
from typing import Any

import anyio
import uvicorn
from mcp.server import MCPServer, NotificationOptions

Pixel = tuple[int, int, int]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_bytes(width: int, height: int, pixel: Callable[[int, int], Pixel]) -> bytes:
    """Encode an 8-bit RGB PNG whose pixel at column x, row y is `pixel(x, y)`."""
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type 0 (None) for every scanline
        for x in range(width):
            rows.extend(pixel(x, y))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + _chunk(b"IEND", b"")
    )


def checker_png(size: int) -> bytes:
    """A deterministic `size` x `size` checkerboard of red and blue 2-pixel squares."""

    def pixel(x: int, y: int) -> Pixel:
        return (220, 40, 40) if (x // 2 + y // 2) % 2 == 0 else (40, 40, 220)

    return png_bytes(size, size, pixel)


def advertise_tools_list_changed(server: MCPServer[Any]) -> None:
    """Declare `capabilities.tools.listChanged = true` for this server.

    `MCPServer` builds its `initialize` result from
    `Server.create_initialization_options()` with no `NotificationOptions`, so the flag
    is always false on handshake-era connections even though the server can send
    `notifications/tools/list_changed`. There is no public switch in mcp 2.3.0, so this
    wraps the low-level server's method.
    """
    lowlevel = server._lowlevel_server  # no public hook for this in mcp 2.3.0
    original = lowlevel.create_initialization_options

    def with_tools_changed(
        notification_options: NotificationOptions | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        options = notification_options or NotificationOptions(tools_changed=True)
        return original(options, *args, **kwargs)

    lowlevel.create_initialization_options = with_tools_changed  # type: ignore[method-assign]


def add_transport_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `--transport`, `--host` and `--port` to a server's command line."""
    parser.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    parser.add_argument("--host", default="127.0.0.1", help="HTTP only (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="HTTP only; 0 picks a free port")


class _ReadyServer(uvicorn.Server):
    """A uvicorn server that announces its URL on stderr once it accepts connections."""

    def __init__(self, config: uvicorn.Config, url: str) -> None:
        super().__init__(config)
        self._url = url

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            print(f"READY {self._url}", file=sys.stderr, flush=True)


async def _serve_http(server: MCPServer[Any], host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    url_host = f"[{host}]" if ":" in host else host
    app = server.streamable_http_app(host=host)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    await _ReadyServer(config, f"http://{url_host}:{bound_port}/mcp").serve(sockets=[sock])


def serve(server: MCPServer[Any], args: argparse.Namespace) -> None:
    """Run `server` on the transport chosen on the command line, until it is stopped."""
    if args.transport == "stdio":
        server.run("stdio")
    else:
        anyio.run(_serve_http, server, args.host, args.port)
