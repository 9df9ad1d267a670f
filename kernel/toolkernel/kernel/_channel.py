"""The typed channel: JSON-RPC 2.0 from the bridge to the kernel's session, over a comm.

The bridge opens a comm to the target `toolkernel.rpc`, on a kernel subshell when the
kernel has them, else on its control channel (`serve_channel_on_control`), so its
requests are answered while a cell runs. Each comm message is one JSON-RPC message:

- bridge to kernel: requests (`{"jsonrpc", "id", "method", "params"}`), and the
  responses to the kernel's own requests;
- kernel to bridge: responses; `notifications/progress` of a running `tools/call`
  (`{"request": id, "progress", "total", "message"}`); and `relay` requests, when a
  server asks the bridge's client something (sampling, elicitation) during a call.

Every method maps onto the session (`Toolbox`); the names are `CHANNEL_METHODS`. The
discovery methods (`tools/names`, `tools/search`) end their list with notes on what it
may miss (servers still connecting or failed, no mcp.json): `"note: ..."` strings, or
`{"note": ...}` objects among rows. Each
request runs as its own task, so a slow call never holds up discovery. An error in a
method becomes a JSON-RPC error whose `message` is the exception's text and whose
`data.type` is its class name.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextvars
import functools
import itertools
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from toolkernel._spec import CHANNEL_TARGET, ClientRelay, JSONObject, KnownRelay
from toolkernel.session import CallObservers, Toolbox

__all__ = ["CHANNEL_METHODS", "Channel", "register_channel", "serve_channel_on_control"]

log = logging.getLogger("toolkernel.kernel")

_INVALID_PARAMS = -32602
_METHOD_NOT_FOUND = -32601
_FAILED = -32000
_RELAY_WAIT_S = 3600.0
# Each JSON-RPC method, and the `Channel` coroutine that answers it.
_METHODS = {
    "session/ready": "_ready",
    "tools/names": "_names",
    "tools/search": "_search",
    "tools/details": "_details",
    "tools/catalog": "_catalog",
    "tools/call": "_call",
    "tools/versions": "_versions",
    "tools/diff": "_diff",
    "tools/rollback": "_rollback",
    "tools/history": "_history",
    "tools/delete": "_delete",
    "tools/restore": "_restore",
    "tools/create": "_create",
    "memory": "_memory",
    "kernel/keep": "_keep",
    "servers/add": "_add_server",
    "servers/remove": "_remove_server",
}


class Channel:
    """One open comm from a bridge, and the requests in flight on it."""

    def __init__(self, comm: Any, toolbox: Toolbox, user_ns: dict[str, Any]) -> None:
        self._comm = comm
        self._toolbox = toolbox
        self._user_ns = user_ns
        self._tasks: set[asyncio.Task[None]] = set()
        self._asked: dict[str, concurrent.futures.Future[JSONObject]] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._methods: dict[str, Callable[[JSONObject, Any], Awaitable[Any]]] = {
            name: getattr(self, attribute) for name, attribute in _METHODS.items()
        }
        comm.on_msg(self._on_msg)
        comm.on_close(self._on_close)

    # -- messages ------------------------------------------------------------------------

    def _on_msg(self, msg: dict[str, Any]) -> None:
        data = msg.get("content", {}).get("data")
        if not isinstance(data, dict):
            return
        if "method" in data and "id" in data:
            self._loop = asyncio.get_running_loop()
            task = asyncio.ensure_future(self._serve(data))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif "id" in data:  # the answer to one of our relay requests
            with self._lock:
                waiting = self._asked.pop(str(data["id"]), None)
            if waiting is not None and not waiting.done():
                waiting.set_result(data)

    def _on_close(self, msg: dict[str, Any]) -> None:
        for task in list(self._tasks):
            task.cancel()
        with self._lock:
            asked, self._asked = self._asked, {}
        for waiting in asked.values():
            waiting.cancel()

    async def _serve(self, request: JSONObject) -> None:
        method = self._methods.get(str(request.get("method")))
        request_id = request["id"]
        if method is None:
            self._error(request_id, _METHOD_NOT_FOUND, f"no method {request.get('method')!r}")
            return
        params = request.get("params") or {}
        if not isinstance(params, dict):
            self._error(request_id, _INVALID_PARAMS, "params must be an object")
            return
        try:
            result = await method(params, request_id)
        except asyncio.CancelledError:
            self._error(request_id, _FAILED, "cancelled: the channel closed", "CancelledError")
            raise
        except (KeyError, TypeError) as exc:
            self._error(request_id, _INVALID_PARAMS, f"bad params: {exc}", type(exc).__name__)
        except Exception as exc:  # any failure becomes the caller's error, with its type
            self._error(request_id, _FAILED, str(exc), type(exc).__name__)
        else:
            self._send({"jsonrpc": "2.0", "id": request_id, "result": result})

    def _error(self, request_id: Any, code: int, message: str, kind: str = "") -> None:
        error: JSONObject = {"code": code, "message": message}
        if kind:
            error["data"] = {"type": kind}
        self._send({"jsonrpc": "2.0", "id": request_id, "error": error})

    def _send(self, message: JSONObject) -> None:
        self._comm.send(message)

    def _send_soon(self, message: JSONObject, context: contextvars.Context) -> None:
        """Send from any thread, in the channel loop (where comm replies are made)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._send, message, context=context)

    # -- methods -------------------------------------------------------------------------

    async def _ready(self, params: JSONObject, _: Any) -> list[JSONObject]:
        timeout = float(params.get("timeout_s", 30.0))
        statuses = await self._toolbox.wait_for_servers(timeout)
        return [{"name": s.name, "state": s.state, "detail": s.detail} for s in statuses]

    async def _names(self, params: JSONObject, _: Any) -> list[str]:
        await self._toolbox.discovery_notes()  # the bounded first wait, off this loop
        names = self._toolbox.discovery.list_tool_names(params.get("server"))
        return [*names, *(f"note: {note}" for note in names.notes)]

    async def _search(self, params: JSONObject, _: Any) -> list[Any]:
        await self._toolbox.discovery_notes()
        detail = params.get("detail", "summary")
        rows = self._toolbox.discovery.search_tools(
            str(params["query"]),
            limit=int(params.get("limit", 10)),
            detail=detail,
            server=params.get("server"),
        )
        if detail in ("name", "line"):
            return [*rows, *(f"note: {note}" for note in rows.notes)]
        return [*rows, *({"note": note} for note in rows.notes)]

    async def _details(self, params: JSONObject, _: Any) -> str:
        await self._toolbox.discovery_notes()
        return repr(self._toolbox.get_tool_details(str(params["name"])))

    async def _catalog(self, params: JSONObject, _: Any) -> JSONObject:
        return await self._toolbox.catalog_json()

    async def _call(self, params: JSONObject, request_id: Any) -> JSONObject:
        context = contextvars.copy_context()

        def progress(progress: float, total: float | None, message: str | None) -> None:
            note = {"request": request_id, "progress": progress, "total": total}
            update = {**note, "message": message}
            self._send_soon(
                {"jsonrpc": "2.0", "method": "notifications/progress", "params": update},
                context,
            )

        observers = CallObservers(on_progress=progress, relay=self._relay_for(request_id, params))
        arguments = params.get("arguments") or {}
        return await self._toolbox.call_json(str(params["name"]), arguments, observers=observers)

    def _relay_for(self, request_id: Any, params: JSONObject) -> ClientRelay | None:
        """The relay of a call whose `relay` is what its client can answer (a list)."""
        asked = params.get("relay")
        if not asked:
            return None
        relay = functools.partial(self._relay, request_id)
        if isinstance(asked, list):  # `true` (an older bridge) said only "there is one"
            return KnownRelay(relay, frozenset(map(str, asked)))
        return relay

    async def _relay(self, request_id: Any, method: str, params: JSONObject) -> JSONObject:
        """Ask the client behind request `request_id`.

        This runs on the host's loop; the answer arrives on the channel's.
        """
        ask_id = f"k{next(self._ids)}"
        waiting: concurrent.futures.Future[JSONObject] = concurrent.futures.Future()
        with self._lock:
            self._asked[ask_id] = waiting
        request = {"request": request_id, "method": method, "params": params}
        message = {"jsonrpc": "2.0", "id": ask_id, "method": "relay", "params": request}
        self._send_soon(message, contextvars.copy_context())
        try:
            answer = await asyncio.wait_for(asyncio.wrap_future(waiting), _RELAY_WAIT_S)
        finally:
            with self._lock:
                self._asked.pop(ask_id, None)
        if "error" in answer:
            error = answer["error"]
            text = error.get("message") if isinstance(error, dict) else error
            msg = f"the MCP client could not answer {method}: {text}"
            raise RuntimeError(msg)
        result: JSONObject = answer.get("result") or {}
        return result

    async def _versions(self, params: JSONObject, _: Any) -> list[JSONObject]:
        return [
            {
                "version": v.version,
                "created_at": v.created_at,
                "author": v.author,
                "note": v.note,
                "rollback_of": v.rollback_of,
                "deleted": v.deleted,
                **({"dependencies": v.dependencies} if v.dependencies else {}),
            }
            for v in self._toolbox.tool_versions(str(params["name"]))
        ]

    async def _history(self, params: JSONObject, _: Any) -> list[dict[str, Any]]:
        tool = params.get("tool")
        return await asyncio.to_thread(
            self._toolbox.call_history,
            params.get("limit", 20),
            tool=None if tool is None else str(tool),
        )

    async def _diff(self, params: JSONObject, _: Any) -> str:
        b = params.get("b")
        diff = self._toolbox.diff_tool(
            str(params["name"]), int(params["a"]), None if b is None else int(b)
        )
        return str(diff)

    async def _rollback(self, params: JSONObject, _: Any) -> int:
        note = params.get("note")
        version = self._toolbox.rollback_tool(
            str(params["name"]), int(params["version"]), note=None if note is None else str(note)
        )
        return version.version

    async def _delete(self, params: JSONObject, _: Any) -> int:
        note = params.get("note")
        tombstone = self._toolbox.delete_tool(
            str(params["name"]), note=None if note is None else str(note)
        )
        return tombstone.version

    async def _restore(self, params: JSONObject, _: Any) -> int:
        note = params.get("note")
        restored = self._toolbox.restore_tool(
            str(params["name"]), note=None if note is None else str(note)
        )
        return restored.version

    async def _create(self, params: JSONObject, _: Any) -> JSONObject:
        arguments = dict(params.get("arguments") or {})
        name = str(params["name"])
        # Builds take minutes and block: a worker thread keeps the channel answering.
        created = await asyncio.to_thread(self._toolbox.create_tool, name, **arguments)
        return {"name": created.name, "version": created.version}

    async def _add_server(self, params: JSONObject, _: Any) -> JSONObject:
        config = params["config"]
        if not isinstance(config, dict):
            msg = "config must be an mcp.json entry object"
            raise TypeError(msg)
        # It waits for the server's first connection: a worker thread keeps the channel free.
        status = await asyncio.to_thread(
            self._toolbox.add_server,
            str(params["name"]),
            config,
            replace=bool(params.get("replace", False)),
            timeout=float(params.get("timeout_s", 30.0)),
        )
        return {
            "name": status.name,
            "state": status.state,
            "detail": status.detail,
            "tool_count": status.tool_count,
        }

    async def _remove_server(self, params: JSONObject, _: Any) -> bool:
        await asyncio.to_thread(self._toolbox.remove_server, str(params["name"]))
        return True

    async def _memory(self, params: JSONObject, _: Any) -> Any:
        memory = self._user_ns.get("memory")
        action, key = params.get("action"), str(params.get("key", ""))
        if memory is None:
            msg = "this kernel has no `memory` (it was deleted from the namespace)"
            raise RuntimeError(msg)
        if action == "get":
            return memory.get(key)
        if action == "set":
            memory.set(key, params.get("value"), ttl=params.get("ttl_s"))
            return True
        if action == "delete":
            return memory.delete(key)
        if action == "list":
            return memory.list(key)
        msg = f"action must be get, set, delete or list, not {action!r}"
        raise ValueError(msg)

    async def _keep(self, params: JSONObject, _: Any) -> bool:
        """Keep what a reply left out in a kernel variable: `<table>[key] = value`."""
        table = str(params["table"])
        if not table.isidentifier() or not table.startswith("_bridge_"):
            msg = f"the bridge keeps values only in `_bridge_*` tables, not {table!r}"
            raise ValueError(msg)
        value: Any = params.get("text")
        if "images" in params:
            value = [base64.b64decode(item) for item in params["images"]]
        self._user_ns.setdefault(table, {})[int(params["key"])] = value
        return True


CHANNEL_METHODS = tuple(_METHODS)


def register_channel(comm_manager: Any, toolbox: Toolbox, user_ns: dict[str, Any]) -> None:
    """Answer comms opened to `CHANNEL_TARGET` with a `Channel` on `toolbox`."""

    def open_channel(comm: Any, msg: dict[str, Any]) -> None:
        Channel(comm, toolbox, user_ns)  # the comm's callbacks keep it

    comm_manager.register_target(CHANNEL_TARGET, open_channel)


def serve_channel_on_control(control_handlers: dict[str, Any], comm_manager: Any) -> None:
    """Accept the typed channel's comm on the kernel's control channel as well.

    A kernel without subshells cannot answer on its shell channel while a cell blocks
    the main thread; its control channel has a thread of its own. Only comms to
    `CHANNEL_TARGET` are opened there, and only they receive messages there: no other
    comm target's code runs on the control thread. Requests run as tasks on the control
    thread's loop, so they never hold up an interrupt or a shutdown.
    """
    opened: set[str] = set()

    def comm_open(stream: Any, ident: Any, msg: dict[str, Any]) -> None:
        content = msg.get("content") or {}
        if content.get("target_name") != CHANNEL_TARGET:
            log.warning(
                "refused a comm_open to %r on the control channel: only %r is served there; "
                "open other comms on the shell channel",
                content.get("target_name"),
                CHANNEL_TARGET,
            )
            return
        opened.add(str(content.get("comm_id")))
        comm_manager.comm_open(stream, ident, msg)

    def comm_msg(stream: Any, ident: Any, msg: dict[str, Any]) -> None:
        if str((msg.get("content") or {}).get("comm_id")) in opened:
            comm_manager.comm_msg(stream, ident, msg)

    def comm_close(stream: Any, ident: Any, msg: dict[str, Any]) -> None:
        comm_id = str((msg.get("content") or {}).get("comm_id"))
        if comm_id in opened:
            opened.discard(comm_id)
            comm_manager.comm_close(stream, ident, msg)

    control_handlers.update(comm_open=comm_open, comm_msg=comm_msg, comm_close=comm_close)
