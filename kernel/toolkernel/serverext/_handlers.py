"""REST handlers under `<base_url>toolkernel/api/`: tools, versions, changes, servers, calls.

The changes are rollback, delete and restore.

Every handler is authenticated and authorized like Jupyter Server's own (token, cookie,
XSRF for POST). toolkernel errors are translated to HTTP here, exactly once: a missing
tool or version is 404, another registry refusal 409, a bad parameter 400; the JSON
body's `message` says what happened and what to do.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web

from toolkernel.errors import RegistryError, ToolkernelError, ToolNotFound
from toolkernel.serverext._service import PanelService

__all__ = ["AUTH_RESOURCE", "MAX_LIMIT", "handlers"]

AUTH_RESOURCE = "toolkernel"
"""The resource name a Jupyter Server authorizer is asked about."""
MAX_LIMIT = 10_000
"""The most tools one `GET tools` returns."""
_SEARCH_LIMIT = 200
_NAME = r"(?P<name>[^/]+)"


class _ToolkernelHandler(ExtensionHandlerMixin, APIHandler):
    """Shared by every toolkernel handler: the service, JSON replies, error translation."""

    auth_resource = AUTH_RESOURCE

    def initialize(self, name: str, service: PanelService) -> None:
        """Receive the extension's name and the service (from `ExtensionApp` handler kwargs)."""
        self.service = service
        super().initialize(name)

    def reply(self, data: Any) -> None:
        """Finish with `data` as JSON."""
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data, ensure_ascii=False))

    def answer(self, compute: Callable[[], Any]) -> None:
        """Reply with `compute()`, translating a toolkernel error to its HTTP status."""
        try:
            data = compute()
        except ToolkernelError as exc:
            raise translated(exc) from exc
        self.reply(data)

    def int_argument(self, key: str, *, required: bool = False, minimum: int = 0) -> int | None:
        """Return query argument `key` as an int (None when absent and not required).

        Raises:
            HTTPError: 400 when it is missing but required, not an int, or too small.
        """
        text = self.get_query_argument(key, None)
        if text is None or text == "":
            if required:
                msg = f"query parameter {key!r} is required: an integer >= {minimum}"
                raise bad_request(msg)
            return None
        try:
            value = int(text)
        except ValueError:
            msg = f"query parameter {key!r} must be an integer >= {minimum}, not {text!r}"
            raise bad_request(msg) from None
        if value < minimum:
            msg = f"query parameter {key!r} must be >= {minimum}, not {value}"
            raise bad_request(msg)
        return value

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        """Log HTTP errors as one warning line; the message may hold `%` (no formatting)."""
        if isinstance(value, web.HTTPError):
            self.log.warning("%d %s: %s", value.status_code, self._request_summary(), value)
            return
        super().log_exception(typ, value, tb)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Reply `{"message": ...}`, the useful text of an `HTTPError` (never a traceback)."""
        exc_info = kwargs.get("exc_info")
        error = exc_info[1] if exc_info else None
        if isinstance(error, web.HTTPError) and error.log_message:
            message = error.log_message % error.args if error.args else error.log_message
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"message": message, "reason": error.reason}))
            return
        super().write_error(status_code, **kwargs)


def bad_request(message: str) -> web.HTTPError:
    """A 400 whose JSON `message` is `message`."""
    return web.HTTPError(400, "%s", message)


def translated(exc: ToolkernelError) -> web.HTTPError:
    """The HTTP error for a toolkernel error: 404 not found, 409 other registry refusals."""
    if isinstance(exc, ToolNotFound):
        status = 404
    elif isinstance(exc, RegistryError):
        status = 409
    else:
        status = 500
    return web.HTTPError(status, "%s", str(exc))


class ToolsHandler(_ToolkernelHandler):
    """`GET tools?q=&limit=`: every tool, or the best matches of `q`."""

    @web.authenticated
    @authorized
    def get(self) -> None:
        """List or search tools."""
        query = self.get_query_argument("q", None)
        query = query if query and query.strip() else None
        limit = self.int_argument("limit")
        if limit is not None:
            limit = min(limit, MAX_LIMIT)
        try:
            if query is None:
                self.set_header("Content-Type", "application/json")
                self.finish(self.service.tools_json(limit))
                return
            self.reply(self.service.tools(query, _SEARCH_LIMIT if limit is None else limit))
        except ToolkernelError as exc:
            raise translated(exc) from exc


class ToolHandler(_ToolkernelHandler):
    """`GET tools/{name}`: a tool's summary, signature, doc, call and schemas."""

    @web.authenticated
    @authorized
    def get(self, name: str) -> None:
        """Describe one tool."""
        self.answer(lambda: self.service.details(name))


class VersionsHandler(_ToolkernelHandler):
    """`GET tools/{name}/versions`: the version history, oldest first."""

    @web.authenticated
    @authorized
    def get(self, name: str) -> None:
        """List a tool's versions."""
        self.answer(lambda: self.service.versions(name))


class DiffHandler(_ToolkernelHandler):
    """`GET tools/{name}/diff?a=&b=`: a unified diff between two versions."""

    @web.authenticated
    @authorized
    def get(self, name: str) -> None:
        """Diff two versions of a registry tool."""
        a = self.int_argument("a", required=True, minimum=1)
        b = self.int_argument("b", minimum=1)
        assert a is not None  # noqa: S101 - required=True never returns None
        self.answer(lambda: self.service.diff(name, a, b))


class _ChangeHandler(_ToolkernelHandler):
    """A POST that changes a tool, with a JSON body whose `note` (optional) says why."""

    _expected = 'expected a JSON object {"note": <str, optional>}'

    def body(self) -> dict[str, Any]:
        """The JSON object posted (an empty body is `{}`), with `note` checked."""
        try:
            body = json.loads(self.request.body or b"{}")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            msg = f"the body is not JSON ({exc}); {self._expected}"
            raise bad_request(msg) from None
        if not isinstance(body, dict):
            msg = f"{self._expected}, not {type(body).__name__}"
            raise bad_request(msg)
        note = body.get("note")
        if note is not None and not isinstance(note, str):
            msg = f"'note' must be a string, not {type(note).__name__}; {self._expected}"
            raise bad_request(msg)
        return body

    def author(self) -> str:
        """The signed-in user's name, recorded as the new version's author."""
        user = self.current_user
        name = getattr(user, "display_name", "") or getattr(user, "username", "")
        return str(name or "")


class RollbackHandler(_ChangeHandler):
    """`POST tools/{name}/rollback` with `{"version": int, "note": str}`."""

    _expected = 'expected a JSON object {"version": <int >= 1>, "note": <str, optional>}'

    @web.authenticated
    @authorized
    def post(self, name: str) -> None:
        """Make an old version current again, as a new version."""
        body = self.body()
        version = body.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            msg = f"'version' must be an integer >= 1, not {version!r}; {self._expected}"
            raise bad_request(msg)
        note = body.get("note")
        self.answer(lambda: self.service.rollback(name, version, note, self.author()))


class DeleteHandler(_ChangeHandler):
    """`POST tools/{name}/delete` with `{"note": str}` (optional): a soft delete."""

    @web.authenticated
    @authorized
    def post(self, name: str) -> None:
        """Delete a registry tool; its history stays and a restore brings it back."""
        note = self.body().get("note")
        self.answer(lambda: self.service.delete(name, note, self.author()))


class RestoreHandler(_ChangeHandler):
    """`POST tools/{name}/restore` with `{"note": str}` (optional)."""

    @web.authenticated
    @authorized
    def post(self, name: str) -> None:
        """Bring back a deleted tool as it was when deleted, as a new version."""
        note = self.body().get("note")
        self.answer(lambda: self.service.restore(name, note, self.author()))


class ServersHandler(_ToolkernelHandler):
    """`GET servers`: every server's published state, plus configured ones without one."""

    @web.authenticated
    @authorized
    def get(self) -> None:
        """List servers."""
        self.answer(self.service.servers)


class HistoryHandler(_ToolkernelHandler):
    """`GET history?limit=20&tool=server.tool`: the newest tool calls, newest first."""

    @web.authenticated
    @authorized
    def get(self) -> None:
        """List recorded tool calls: `{"calls": [...]}` (see `Toolbox.call_history`)."""
        limit = self.int_argument("limit", minimum=1) or 20
        if limit > MAX_LIMIT:
            msg = f"query parameter 'limit' must be <= {MAX_LIMIT}, not {limit}"
            raise bad_request(msg)
        tool = self.get_query_argument("tool", None) or None
        self.answer(lambda: self.service.history(limit, tool))


class GenerationHandler(_ToolkernelHandler):
    """`GET generation`: a token that changes when tools or server statuses change."""

    @web.authenticated
    @authorized
    def get(self) -> None:
        """Return the current generation token."""
        self.reply({"generation": self.service.generation()})


def handlers(service: PanelService) -> list[tuple[str, type[_ToolkernelHandler], dict[str, Any]]]:
    """Return the URL patterns (relative to `base_url`) and handlers, all sharing `service`."""
    kwargs = {"service": service}
    api = "toolkernel/api"
    return [
        (rf"{api}/tools", ToolsHandler, kwargs),
        (rf"{api}/tools/{_NAME}/versions", VersionsHandler, kwargs),
        (rf"{api}/tools/{_NAME}/diff", DiffHandler, kwargs),
        (rf"{api}/tools/{_NAME}/rollback", RollbackHandler, kwargs),
        (rf"{api}/tools/{_NAME}/delete", DeleteHandler, kwargs),
        (rf"{api}/tools/{_NAME}/restore", RestoreHandler, kwargs),
        (rf"{api}/tools/{_NAME}", ToolHandler, kwargs),
        (rf"{api}/servers", ServersHandler, kwargs),
        (rf"{api}/history", HistoryHandler, kwargs),
        (rf"{api}/generation", GenerationHandler, kwargs),
    ]
