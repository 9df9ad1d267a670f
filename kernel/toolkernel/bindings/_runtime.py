"""What generated bindings call at run time: the caller seam and the `binding` decorator.

Every generated module imports this, so it stays light: no MCP SDK, no pydantic, no
IPython. The kernel installs a `Caller` that goes through its `ToolHost`; tests install
a recording one.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeVar, cast

from toolkernel.errors import BindingError, ToolInputError

__all__ = [
    "Caller",
    "ResourceReader",
    "binding",
    "call_tool",
    "get_caller",
    "get_resource_reader",
    "set_caller",
    "set_resource_reader",
]

_F = TypeVar("_F", bound=Callable[..., Awaitable[Any]])
_SHOWN_PARAMS = 8


class Caller(Protocol):
    """Calls one tool and returns its final Python value (or raises `ToolError`).

    A call pinned to an old version of a registry tool (`tool.at(3)(...)`) also passes
    `version=3`; other calls pass no `version`.
    """

    async def __call__(
        self, source: str, name: str, arguments: dict[str, Any], *, version: int | None = None
    ) -> Any:
        """Call tool `name` of `source` with `arguments`, keyed by the original MCP names."""


class ResourceReader(Protocol):
    """Reads one resource (`resources/read`) and returns the MCP answer as JSON."""

    async def __call__(self, uri: str, *, server: str | None = None) -> dict[str, Any]:
        """Read `uri` from `server`, or from the first connected server that can."""


_PINNED: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "toolkernel_pinned_version", default=None
)


_caller: Caller | None = None


def set_caller(caller: Caller | None) -> None:
    """Install the `Caller` every binding goes through; `None` uninstalls it."""
    global _caller  # noqa: PLW0603 - one process-wide seam, set by the kernel at start
    _caller = caller


def get_caller() -> Caller | None:
    """Return the installed `Caller`, or None when no tool host is running."""
    return _caller


_resource_reader: ResourceReader | None = None


def set_resource_reader(reader: ResourceReader | None) -> None:
    """Install what `ToolResourceLink.read()` goes through; `None` uninstalls it."""
    global _resource_reader  # noqa: PLW0603 - one process-wide seam, as for the caller
    _resource_reader = reader


def get_resource_reader() -> ResourceReader | None:
    """Return the installed `ResourceReader`, or None when no tool host is running."""
    return _resource_reader


async def call_tool(
    source: str,
    name: str,
    arguments: dict[str, Any],
    *,
    optional: tuple[str, ...] = (),
    unwrap: bool = False,
) -> Any:
    """Call tool `name` of `source` through the installed `Caller`.

    Args:
        source: The server (or local namespace) the tool belongs to.
        name: The tool's original name.
        arguments: The arguments, keyed by the tool's original argument names.
        optional: Keys of optional parameters: those whose value is None are dropped,
            because a binding's `None` default means "not given". Other keys are sent
            as they are, None included.
        unwrap: The tool's output schema is an SDK wrapper (`{"result": value}` around
            a non-object return); return the wrapped value itself.

    Raises:
        BindingError: No caller is installed (no tool host is running).
    """
    caller = _caller
    if caller is None:
        msg = (
            f"no tool host is running, so {source}.{name} cannot be called; use the "
            "Toolkernel kernel or call toolkernel.bindings.set_caller(...)"
        )
        raise BindingError(msg, source=source)
    if optional:
        arguments = {k: v for k, v in arguments.items() if v is not None or k not in optional}
    version = _PINNED.get()
    if version is None:
        value = await caller(source, name, arguments)
    else:
        value = await caller(source, name, arguments, version=version)
    if unwrap and isinstance(value, dict) and value.keys() == {"result"}:
        return value["result"]
    return value


def binding(source: str, name: str, *, unwrap: bool = False) -> Callable[[_F], _F]:
    """Decorate a generated tool function so it also accepts one positional dict.

    Keyword calls go through the typed function. A single positional mapping is the
    codemode form: its keys are the tool's original argument names and it is sent
    as-is. `inspect.signature`, `help()` and `inspect.getsource` see the typed
    function, and the result is still a coroutine function. `unwrap` is as in
    `call_tool`.
    """

    def decorate(func: _F) -> _F:
        @functools.wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            if args:
                arguments = _dict_form(func, source, name, args, kwargs)
                return await call_tool(source, name, arguments, unwrap=unwrap)
            try:
                pending = func(**kwargs)
            except TypeError as exc:
                msg = f"{exc}; call it as {_call_forms(func)}"
                raise ToolInputError(msg, tool=f"{source}.{name}") from exc
            return await pending

        def at(version: int) -> Callable[..., Awaitable[Any]]:
            """Return this tool pinned to `version` (registry tools keep every version)."""
            if isinstance(version, bool) or not isinstance(version, int) or version < 1:
                msg = f"{source}.{name}.at() takes a version number (1, 2, ...), not {version!r}"
                raise ToolInputError(msg, tool=f"{source}.{name}")

            @functools.wraps(func)
            async def pinned(*args: Any, **kwargs: Any) -> Any:
                token = _PINNED.set(version)
                try:
                    return await wrapper(*args, **kwargs)
                finally:
                    _PINNED.reset(token)

            return pinned

        wrapper.__toolkernel_tool__ = (source, name)  # type: ignore[attr-defined]
        wrapper.at = at  # type: ignore[attr-defined]
        return cast("_F", wrapper)

    return decorate


def _dict_form(
    func: Callable[..., Any], source: str, name: str, args: tuple[Any, ...], kwargs: Any
) -> dict[str, Any]:
    if len(args) == 1 and isinstance(args[0], Mapping) and not kwargs:
        return dict(args[0])
    if len(args) == 1 and isinstance(args[0], Mapping):
        problem = "takes keyword arguments or one dict, not both"
    else:
        problem = f"takes no positional arguments except one dict (got {len(args)})"
    msg = f"{func.__name__}() {problem}; call it as {_call_forms(func)}"
    raise ToolInputError(msg, tool=f"{source}.{name}")


def _call_forms(func: Callable[..., Any]) -> str:
    """`f(a=..., b=None)` or `f({...})`, from the typed signature."""
    params = list(inspect.signature(func).parameters.values())
    shown = [
        f"{p.name}=..." if p.default is inspect.Parameter.empty else f"{p.name}=None"
        for p in params[:_SHOWN_PARAMS]
    ]
    if len(params) > _SHOWN_PARAMS:
        shown.append("...")
    name = func.__name__
    return f"{name}({', '.join(shown)}) or {name}({{...}}) keyed by the tool's own argument names"
