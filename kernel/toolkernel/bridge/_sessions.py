"""A kernel per MCP session over streamable HTTP: which session has which kernel, and culling.

`SessionKernels` stands where the server's tools expect a kernel: its `execute` and
`request` go to the kernel of the MCP session the current request belongs to (the
session id that its `middleware` reads from each request). A session gets a kernel
from the warm pool when it opens, keeps it while the client comes back with its
session id, and loses it when the client ends the session or it stays idle longer than
the idle timeout; its id is then remembered as lost, so the HTTP front can tell a
returning client plainly that its state is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from toolkernel.bridge._http import lost_message
from toolkernel.bridge._pool import KernelPool
from toolkernel.errors import BridgeError

if TYPE_CHECKING:
    from mcp.server.context import CallNext, HandlerResult, ServerRequestContext

    from toolkernel._spec import ClientRelay, JSONObject
    from toolkernel.bridge._channel import Progress
    from toolkernel.bridge._session import CellEvents, Execution, KernelSession, StdinRelay

__all__ = ["KernelHandle", "SessionKernels"]

log = logging.getLogger("toolkernel.bridge")

_LOST_KEPT = 10_000
_CULL_CHECK_MAX_S = 5.0

_session_id: ContextVar[str | None] = ContextVar("toolkernel_mcp_session", default=None)


class KernelHandle(Protocol):
    """What the bridge's tools need of a kernel: a `KernelSession`, or `SessionKernels`."""

    async def execute(
        self,
        code: str,
        *,
        timeout: float | None,
        events: CellEvents | None = None,
        relay: StdinRelay | None = None,
    ) -> Execution:
        """Run `code` as a cell (see `KernelSession.execute`)."""

    async def request(
        self,
        method: str,
        params: JSONObject | None = None,
        *,
        timeout: float = 60.0,
        on_progress: Progress | None = None,
        relay: ClientRelay | None = None,
    ) -> Any:
        """Ask the kernel's session over the typed channel (see `KernelSession.request`)."""


@dataclass
class _Session:
    kernel: asyncio.Task[KernelSession]
    last_active: float
    in_flight: int = 0


class SessionKernels:
    """Each MCP session's own kernel, from a warm pool; idle ones are shut down."""

    def __init__(self, pool: KernelPool, *, idle_timeout: float, max_sessions: int) -> None:
        """Keep a kernel per session.

        Args:
            pool: Where a new session's kernel comes from.
            idle_timeout: Seconds without a request after which a session's kernel is
                shut down; 0 keeps sessions until their client ends them.
            max_sessions: The most sessions at once; 0 is no limit.
        """
        self.pool = pool
        self.idle_timeout = idle_timeout
        self.max_sessions = max_sessions
        self._sessions: dict[str, _Session] = {}
        self._lost: OrderedDict[str, float] = OrderedDict()
        self._opening = 0

    @property
    def count(self) -> int:
        """Sessions open now, and ones being opened."""
        return len(self._sessions) + self._opening

    def reserve(self) -> bool:
        """Hold a place for a session being opened; False when the limit is reached.

        Give the place back with `release` once the opening request is answered.
        """
        if self.max_sessions and self.count >= self.max_sessions:
            return False
        self._opening += 1
        return True

    def release(self) -> None:
        """Give back a place held by `reserve` (the session is open, or was refused)."""
        self._opening -= 1

    def open(self, session_id: str) -> None:
        """Register a new session and take its kernel from the pool (in the background)."""
        if session_id not in self._sessions:
            kernel = asyncio.create_task(self.pool.take())
            self._sessions[session_id] = _Session(kernel, time.monotonic())

    def lost(self, session_id: str) -> float | None:
        """How long the session had been idle when it was culled, or None if it was not."""
        return self._lost.get(session_id)

    def touch(self, session_id: str) -> None:
        """The session's client was heard from now."""
        session = self._sessions.get(session_id)
        if session is not None:
            session.last_active = time.monotonic()

    @contextlib.contextmanager
    def active(self, session_id: str) -> Iterator[None]:
        """Mark the session busy while a request of its is served (it is not idle then)."""
        session = self._sessions.get(session_id)
        if session is None:
            yield
            return
        session.in_flight += 1
        session.last_active = time.monotonic()
        try:
            yield
        finally:
            session.in_flight -= 1
            session.last_active = time.monotonic()

    async def close(self, session_id: str) -> None:
        """The client ended the session: shut its kernel down."""
        session = self._sessions.pop(session_id, None)
        if session is not None:
            await _shut(session.kernel)

    async def close_all(self) -> None:
        """Shut down every session's kernel, and the pool's."""
        sessions, self._sessions = list(self._sessions.values()), {}
        await asyncio.gather(self.pool.close(), *(_shut(s.kernel) for s in sessions))

    async def cull_idle(self, end_session: Callable[[str], Awaitable[None]]) -> None:
        """Shut down sessions idle longer than the timeout; runs forever (none if 0).

        `end_session` ends a culled session in the MCP transport too.
        """
        if self.idle_timeout <= 0:
            return
        every = min(self.idle_timeout / 4, _CULL_CHECK_MAX_S)
        while True:
            await asyncio.sleep(every)  # a periodic check, not a synchronisation
            await asyncio.gather(*(self._cull(ended, end_session) for ended in self._idle()))

    def _idle(self) -> list[tuple[str, _Session]]:
        """Forget the sessions idle past the timeout, as lost; return them."""
        now = time.monotonic()
        idle = [
            (session_id, session)
            for session_id, session in self._sessions.items()
            if session.in_flight == 0 and now - session.last_active > self.idle_timeout
        ]
        for session_id, session in idle:
            del self._sessions[session_id]
            self._remember_lost(session_id, now - session.last_active)
        return idle

    async def _cull(
        self, ended: tuple[str, _Session], end_session: Callable[[str], Awaitable[None]]
    ) -> None:
        session_id, session = ended
        await _shut(session.kernel)
        try:
            await end_session(session_id)
        except Exception:  # the cull goes on for the other sessions
            log.warning("could not end culled session %s", session_id, exc_info=True)

    async def middleware(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        """MCP server middleware: the request's tools run on its session's kernel."""
        # Every request after the opening one carries its session's id as a header.
        headers = getattr(ctx.request, "headers", None)  # a Starlette request over HTTP
        token = _session_id.set(headers.get("mcp-session-id") if headers is not None else None)
        try:
            return await call_next(ctx)
        finally:
            _session_id.reset(token)

    async def execute(
        self,
        code: str,
        *,
        timeout: float | None,
        events: CellEvents | None = None,
        relay: StdinRelay | None = None,
    ) -> Execution:
        """Run `code` on the current session's kernel (see `KernelSession.execute`)."""
        kernel = await self._current()
        return await kernel.execute(code, timeout=timeout, events=events, relay=relay)

    async def request(
        self,
        method: str,
        params: JSONObject | None = None,
        *,
        timeout: float = 60.0,
        on_progress: Progress | None = None,
        relay: ClientRelay | None = None,
    ) -> Any:
        """Ask the current session's kernel (see `KernelSession.request`).

        Outside a request (following the registry), any session's kernel answers.
        """
        kernel = await self._current()
        return await kernel.request(
            method, params, timeout=timeout, on_progress=on_progress, relay=relay
        )

    async def _current(self) -> KernelSession:
        session_id = _session_id.get()
        if session_id is None:
            return await self._any()
        idle = self.lost(session_id)
        if idle is not None:
            raise BridgeError(lost_message(session_id, idle, self.idle_timeout))
        self.open(session_id)  # a session the front did not see open (it is the SDK's)
        session = self._sessions[session_id]
        try:
            # Shielded: a cancelled call must not cancel the session's kernel start.
            return await asyncio.shield(session.kernel)
        except Exception as exc:
            if self._sessions.get(session_id) is session:
                del self._sessions[session_id]  # the session's next request tries again
            why = str(exc) if isinstance(exc, BridgeError) else f"{type(exc).__name__}: {exc}"
            msg = (
                f"this session's kernel failed to start ({why}); retry the call, and if "
                "it fails again see the bridge's log"
            )
            raise BridgeError(msg) from exc

    async def _any(self) -> KernelSession:
        for session in list(self._sessions.values()):
            if session.kernel.done() and not session.kernel.exception():
                return session.kernel.result()
        msg = "no MCP session is open, so no kernel to ask"
        raise BridgeError(msg)

    def _remember_lost(self, session_id: str, idle: float) -> None:
        self._lost[session_id] = idle
        while len(self._lost) > _LOST_KEPT:
            self._lost.popitem(last=False)


async def _shut(kernel: asyncio.Task[KernelSession]) -> None:
    """Shut the session's kernel down (once it has started, if it is still starting)."""
    with contextlib.suppress(Exception):
        started = await kernel
        await asyncio.shield(started.shutdown())
