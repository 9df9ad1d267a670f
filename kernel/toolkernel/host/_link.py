"""The kernel's connection to its tool host: made on demand, and where each message goes.

`HostLink` runs on `RemoteToolHost`'s loop. It connects on the first request (a kernel
that never reached its host waits, up to the connect timeout, for a starting host's
socket to appear; one whose host went away tries once, at once), says `initialize`, and
routes what the host sends: catalog changes and logs to the `RemoteToolHost`, each
call's progress, output and logs to that call's callbacks, and relayed requests to that
call's `ClientRelay`.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkernel._spec import START_FAILURE_NAME, ClientRelay, KnownRelay, ToolResult, ToolSpec
from toolkernel.errors import ConfigError, ServerUnavailable
from toolkernel.host._host import LogCallback, ProgressCallback
from toolkernel.host._wire import MAX_LINE, PROTOCOL_VERSION, Peer, PeerClosed, RpcError

__all__ = ["START_FAILURE_NAME", "CallSinks", "HostLink"]

_FIRST_CONNECT_RETRY_S = 0.02
"""How often a starting kernel looks again for a socket its host has not yet made."""
_ALL_RELAY = ["sampling", "elicitation", "elicitation.url"]


@dataclass(frozen=True)
class CallSinks:
    """Where the host's messages about one call go (each optional; called on the link's loop).

    Attributes:
        on_progress: `(progress, total, message)`.
        relay: Answers the call's server's elicitation and sampling requests.
        on_output: Text a script tool streams.
        on_log: `(tool, level, text)` for a script tool's log messages.
    """

    on_progress: ProgressCallback | None = None
    relay: ClientRelay | None = None
    on_output: Callable[[str], None] | None = None
    on_log: LogCallback | None = None


class HostLink:
    """One kernel's connection to its `toolkernel host`, (re)made on demand."""

    def __init__(
        self,
        socket_path: Path,
        *,
        connect_timeout: float,
        on_catalog: Callable[[str, list[ToolSpec]], None],
        on_log: LogCallback,
        reached_before: bool = False,
    ) -> None:
        """Make a link; nothing connects until the first request.

        A socket missing at the first connection is waited for (up to
        `connect_timeout`: the host may be starting), unless `reached_before` says the
        host answered another connection already: then it is gone, and said to be.
        """
        self.socket_path = socket_path
        self.connect_timeout = connect_timeout
        """Seconds to wait for a starting host's socket, and for `initialize`."""
        self.servers: list[str] | None = None
        """The host's configured servers, once it answered `initialize`."""
        self._on_catalog = on_catalog
        self._on_log = on_log
        self._calls: dict[int, CallSinks] = {}
        self._peer: Peer | None = None
        self._reader: asyncio.Task[None] | None = None
        self._connecting: asyncio.Lock | None = None
        self._ever_connected = reached_before
        self._may_wait = not reached_before
        """Whether a missing socket is waited for: until the first connection, once."""

    async def call(
        self,
        name: str,
        args: dict[str, Any],
        version: int | None,
        sinks: CallSinks,
        execution: str | None = None,
    ) -> ToolResult:
        """Send one `tools/call` and return its result (or raise the host's error).

        Raises:
            ServerUnavailable: The host cannot be reached, or went away during the call.
        """
        server = name.partition(".")[0]
        peer = await self.connected(tool=name, server=server)
        rid = peer.next_id()
        params: dict[str, Any] = {"id": rid, "name": name, "arguments": args}
        if version is not None:
            params["version"] = version
        if execution is not None:
            params["execution"] = execution
        if isinstance(sinks.relay, KnownRelay):
            params["relay"] = sorted(sinks.relay.capabilities)
            params["relay_party"] = sinks.relay.party
        elif sinks.relay is not None:
            params["relay"] = _ALL_RELAY
        self._calls[rid] = sinks
        try:
            answer = await peer.request("tools/call", params, request_id=rid)
        except PeerClosed as exc:
            msg = (
                f"the tool host ({self.socket_path}) went away during the call to {name}: "
                f"{exc}. The call may have run; restart the kernel to start a new host"
            )
            raise ServerUnavailable(msg, tool=name, server=server) from exc
        finally:
            self._calls.pop(rid, None)
        return ToolResult(
            tool=str(answer.get("tool") or name),
            content=list(answer.get("content") or []),
            structured=answer.get("structured"),
            is_error=bool(answer.get("is_error")),
            meta=answer.get("meta"),
            approval=answer.get("approval"),
        )

    async def ask(self, method: str, params: dict[str, Any], *, server: str, wait: float) -> Any:
        """One request other than a call, bounded by the connect timeout plus `wait`.

        Raises:
            ServerUnavailable: The host cannot be reached, went away, or did not answer.
        """
        peer = await self.connected(server=server)
        bound = self.connect_timeout + wait
        try:
            async with asyncio.timeout(bound):
                return await peer.request(method, params)
        except PeerClosed as exc:
            msg = (
                f"the tool host ({self.socket_path}) went away during {method}: {exc}; "
                "restart the kernel to start a new one"
            )
            raise ServerUnavailable(msg, tool="", server=server) from exc
        except TimeoutError as exc:
            msg = (
                f"the tool host ({self.socket_path}) did not answer {method} within "
                f"{bound:.0f} s; it may be stuck: restart the kernel"
            )
            raise ServerUnavailable(msg, tool="", server=server) from exc

    async def connected(self, *, tool: str = "", server: str = "") -> Peer:
        """The live connection, made (and the host's catalog heard) first if there is none.

        Raises:
            ServerUnavailable: The host cannot be reached.
        """
        if self._peer is not None and not self._peer.closed:
            return self._peer
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._peer is None or self._peer.closed:
                try:
                    self._peer = await self._connect()
                except (OSError, PeerClosed, RpcError, TimeoutError) as exc:
                    msg = self._unreachable(exc)
                    raise ServerUnavailable(msg, tool=tool, server=server) from exc
            return self._peer

    def close(self) -> None:
        """Close the connection (requests waiting on it fail)."""
        if self._peer is not None:
            self._peer.close()

    # -- internals -------------------------------------------------------------------------

    async def _connect(self) -> Peer:
        deadline = time.monotonic() + self.connect_timeout
        while True:
            try:
                reader, writer = await asyncio.open_unix_connection(
                    str(self.socket_path), limit=MAX_LINE
                )
                break
            except FileNotFoundError:
                # A starting host makes its socket soon; one that ran before is gone, and
                # one that never came is not waited for twice.
                failed = self._start_failure() is not None
                if failed or not self._may_wait or time.monotonic() > deadline:
                    self._may_wait = False
                    raise
                await asyncio.sleep(_FIRST_CONNECT_RETRY_S)
        peer = Peer(reader, writer, on_request=self._serve, on_notify=self._notified, name="kernel")
        self._reader = asyncio.get_running_loop().create_task(peer.run())
        # Once reading ends (the host closed it, or the loop is winding down its tasks),
        # the socket is closed too, on this loop, before it is gone.
        self._reader.add_done_callback(lambda _: peer.close())
        hello = {"protocol": PROTOCOL_VERSION, "pid": os.getpid()}
        try:
            async with asyncio.timeout(self.connect_timeout):
                answer = await peer.request("initialize", hello)
        except BaseException:
            peer.close()
            raise
        self.servers = [str(name) for name in answer.get("servers", [])]
        self._ever_connected = True
        self._may_wait = False
        return peer

    def _start_failure(self) -> str | None:
        try:
            text = (self.socket_path.parent / START_FAILURE_NAME).read_text(encoding="utf-8")
        except OSError:
            return None
        return text.strip() or None

    def _unreachable(self, exc: BaseException) -> str:
        failure = self._start_failure()
        if failure is not None:
            return failure
        if not self._ever_connected:
            return (
                f"cannot reach the tool host at {self.socket_path} ({exc}); start it with "
                f"`toolkernel host --socket {self.socket_path}`, or restart the kernel"
            )
        return (
            f"the tool host at {self.socket_path} is gone ({exc}); restart the kernel to "
            "start a new one"
        )

    async def _serve(self, method: str, params: dict[str, Any]) -> Any:
        """Answer the host's requests: a relayed elicitation or sampling of one call."""
        if method != "relay/request":
            msg = f"the kernel serves only relay/request, not {method!r}"
            raise ConfigError(msg)
        sinks = self._calls.get(params.get("call"))  # type: ignore[arg-type]
        asked = str(params.get("method"))
        if sinks is None or sinks.relay is None:
            msg = f"no call in this kernel can answer {asked!r}: it was made without a relay"
            raise ConfigError(msg)
        inner = params.get("params")
        return await sinks.relay(asked, inner if isinstance(inner, dict) else {})

    def _notified(self, method: str, params: dict[str, Any]) -> None:
        if method == "catalog/changed":
            tools = params.get("tools") or []
            self._on_catalog(str(params.get("source")), [ToolSpec.from_json(t) for t in tools])
            return
        if method == "log":
            self._on_log(*_log_args(params))
            return
        sinks = self._calls.get(params.get("id"))  # type: ignore[arg-type]
        if sinks is None:
            return
        if method == "calls/progress" and sinks.on_progress is not None:
            sinks.on_progress(float(params["progress"]), params.get("total"), params.get("message"))
        elif method == "calls/output" and sinks.on_output is not None:
            sinks.on_output(str(params.get("text")))
        elif method == "calls/log" and sinks.on_log is not None:
            sinks.on_log(*_log_args(params))


def _log_args(params: dict[str, Any]) -> tuple[str, int, str]:
    level = params.get("level")
    return (
        str(params.get("source")),
        level if isinstance(level, int) else 0,
        str(params.get("text")),
    )
