"""The registry of kinds: a name, and where its `ToolKind` is made.

A kind is registered as `"package.module:Class"` and imported on first use, so that
importing the registry (and the factory or the host through it) loads no kind. `Kinds`
is one owner's set of kind instances (a factory's, a host's), each made on first use.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from toolkernel.errors import RegistryError

if TYPE_CHECKING:
    from toolkernel.kinds._protocol import KindContext, ToolKind

__all__ = ["KindMaker", "Kinds", "kind_names", "load_kind", "register_kind"]

KindMaker = Callable[["KindContext"], "ToolKind"]
"""Makes a kind's instance for one owner (usually the kind's class)."""

_registered: dict[str, str | KindMaker] = {}
_imported: dict[str, KindMaker] = {}
"""`"module:Class"` -> the class, once imported (every call of a registry tool asks)."""
_lock = threading.Lock()


def register_kind(name: str, maker: str | KindMaker) -> Callable[[], None]:
    """Register kind `name`, made by `maker` (a class, or `"module:Class"` to import lazily).

    A kind registered again replaces the earlier one (for this process).

    Returns:
        A function that restores what `name` was before (or removes it).
    """
    with _lock:
        before = _registered.get(name)
        _registered[name] = maker

    def restore() -> None:
        with _lock:
            if before is None:
                _registered.pop(name, None)
            else:
                _registered[name] = before

    return restore


def kind_names() -> list[str]:
    """The registered kinds' names, sorted."""
    with _lock:
        return sorted(_registered)


def load_kind(name: str) -> KindMaker:
    """Return what makes kind `name`, importing its module on first use.

    Raises:
        RegistryError: No kind is registered as `name`; the message lists the kinds.
    """
    with _lock:
        maker = _registered.get(name)
    if maker is None:
        known = [repr(kind) for kind in kind_names()]
        kinds = f"{', '.join(known[:-1])} or {known[-1]}" if len(known) > 1 else "".join(known)
        msg = f"unknown tool kind {name!r}; use kind={kinds}"
        raise RegistryError(msg)
    if isinstance(maker, str):
        loaded = _imported.get(maker)
        if loaded is None:
            module, _, attribute = maker.partition(":")
            loaded = _imported[maker] = getattr(importlib.import_module(module), attribute)
        return loaded
    return maker


class Kinds:
    """One owner's kinds, each made from the registry on first use."""

    def __init__(self, context: KindContext) -> None:
        """Make kinds that work with `context` (registry, caches, sandbox)."""
        self.context = context
        self._made: dict[tuple[str, KindMaker], ToolKind] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> ToolKind:
        """Return kind `name`.

        Raises:
            RegistryError: No such kind; the message lists the kinds there are.
        """
        maker = load_kind(name)
        with self._lock:
            made = self._made.get((name, maker))
            if made is None:
                made = maker(self.context)
                self._made[(name, maker)] = made
            return made

    def find(self, name: str) -> ToolKind | None:
        """Return kind `name`, or None when no such kind is registered."""
        try:
            return self.get(name)
        except RegistryError:
            return None

    def all(self) -> list[ToolKind]:
        """Every registered kind, by name."""
        return [self.get(name) for name in kind_names()]

    def owner_of(self, namespace: str) -> ToolKind | None:
        """The kind whose tools own `namespace` (`skills`), if one does."""
        return next((kind for kind in self.all() if kind.namespace == namespace), None)

    async def aclose(self) -> None:
        """Stop what each made kind runs on the host loop."""
        for kind in self._made_kinds():
            await kind.aclose()

    def close(self) -> None:
        """Release each made kind's native resources."""
        for kind in self._made_kinds():
            kind.close()

    def _made_kinds(self) -> list[ToolKind]:
        with self._lock:
            return list(self._made.values())
