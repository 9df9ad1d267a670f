"""A tool's signature, docstring and call, from the same generated bindings a kernel loads.

The server extension never calls a tool: it loads the bindings modules (through the
shared on-disk `BindingCache` under `<home>/bindings`) only to read their signatures
and docstrings, with the kernel's own `Discovery`. A Python skill's saved source is
user code, so it is not run here: its signature is read from its syntax tree.
"""

from __future__ import annotations

import ast
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkernel._spec import ToolSpec
from toolkernel.bindings import BindingCache, ToolsNamespace
from toolkernel.errors import ToolNotFound
from toolkernel.serverext._summaries import call_snippet

if TYPE_CHECKING:
    from collections.abc import Callable

    from toolkernel.registry import ToolRegistry, ToolVersion
    from toolkernel.session import Discovery

__all__ = ["BindingDetails", "ToolBindings"]


@dataclass(frozen=True)
class BindingDetails:
    """What a notebook cell would see for one tool.

    Attributes:
        signature: The binding's signature (`word_count(*, text: str) -> int`).
        doc: The binding's docstring.
        call: A ready-to-run call with placeholders for the required arguments.
    """

    signature: str
    doc: str
    call: str


class ToolBindings:
    """Builds `BindingDetails` for tools of the registry, one source module at a time."""

    def __init__(self, registry: ToolRegistry, home: Path) -> None:
        """Read tools from `registry`; binding files are cached under `<home>/bindings`."""
        self._registry = registry
        self._namespace = ToolsNamespace(BindingCache(Path(home) / "bindings"))
        self._discovery: Discovery | None = None
        self._skills: Any = None

    def details(self, spec: ToolSpec) -> BindingDetails:
        """Return the signature, docstring and call snippet of `spec`'s binding.

        Raises:
            BindingError: The generated bindings failed to load (a generator bug).
        """
        discovery = self._get_discovery()
        if spec.kind != "skill":
            # Unchanged catalogs keep their module: this is a hash check, not a rebuild.
            self._namespace.set_source(spec.source, self._registry.list_tools(spec.source))
        found = discovery.details_for(spec)
        function = self._function(spec)
        prefix = found.call.partition("(")[0] if found.call.startswith("await ") else found.call
        call = call_snippet(prefix, function, spec.input_schema)
        return BindingDetails(signature=found.signature, doc=found.doc, call=call)

    def _function(self, spec: ToolSpec) -> Any:
        if spec.kind == "skill":
            try:
                return self._skills.load(spec.name)
            except ToolNotFound:
                return None
        try:
            module = self._namespace.module(spec.source)
            return getattr(module, self._namespace.python_name(spec.source, spec.name), None)
        except ToolNotFound:
            return None

    def _get_discovery(self) -> Discovery:
        if self._discovery is None:
            # Imported on first use: the kernel package pulls in ipykernel (~0.3 s), which
            # a server that never shows a tool's details should not pay for.
            from toolkernel.session import Discovery  # noqa: PLC0415
            from toolkernel.session._skills import SkillLibrary  # noqa: PLC0415

            class UnexecutedSkills(SkillLibrary):
                """Skills whose functions are read from their source, never executed."""

                def function(self, version: ToolVersion) -> Callable[..., Any]:
                    return _SkillStandIn(self.source_of(version), version.manifest["entry"])

            self._skills = UnexecutedSkills(self._registry, scope=dict)
            self._discovery = Discovery(
                self._registry, self._namespace, self._registry.namespaces, self._skills
            )
        return self._discovery


class _SkillStandIn:
    """Has the signature of a skill's `async def`, read from its source without running it."""

    def __init__(self, source: str, entry: str) -> None:
        self.__signature__ = _signature_from_source(source, entry)

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        msg = "a skill runs in a kernel, not in the Jupyter server"
        raise NotImplementedError(msg)


def _signature_from_source(source: str, entry: str) -> inspect.Signature:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return _ANY_ARGUMENTS
    for node in tree.body:
        if isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef) and node.name == entry:
            return _signature(node.args, node.returns)
    return _ANY_ARGUMENTS


def _signature(args: ast.arguments, returns: ast.expr | None) -> inspect.Signature:
    kind = inspect.Parameter
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults += args.defaults
    params = [
        _parameter(arg, default, kind.POSITIONAL_ONLY)
        for arg, default in zip(args.posonlyargs, defaults, strict=False)
    ]
    params += [
        _parameter(arg, default, kind.POSITIONAL_OR_KEYWORD)
        for arg, default in zip(args.args, defaults[len(args.posonlyargs) :], strict=True)
    ]
    if args.vararg is not None:
        params.append(_parameter(args.vararg, None, kind.VAR_POSITIONAL))
    params += [
        _parameter(arg, default, kind.KEYWORD_ONLY)
        for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True)
    ]
    if args.kwarg is not None:
        params.append(_parameter(args.kwarg, None, kind.VAR_KEYWORD))
    annotation = inspect.Signature.empty if returns is None else _Source(ast.unparse(returns))
    return inspect.Signature(params, return_annotation=annotation)


def _parameter(arg: ast.arg, default: ast.expr | None, kind: Any) -> inspect.Parameter:
    annotation = arg.annotation
    return inspect.Parameter(
        arg.arg,
        kind,
        default=inspect.Parameter.empty if default is None else _Source(ast.unparse(default)),
        annotation=inspect.Parameter.empty
        if annotation is None
        else _Source(ast.unparse(annotation)),
    )


class _Source(str):
    """Source text that `inspect` prints as it is (not quoted), like the object it names."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)


_ANY_ARGUMENTS = inspect.Signature([inspect.Parameter("arguments", inspect.Parameter.VAR_KEYWORD)])
