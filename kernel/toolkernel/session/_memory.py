"""`memory`: the key-value store a kernel preloads, kept in the registry.

Values are JSON and outlive the kernel: a restarted kernel, another kernel on the same
toolkernel home, or the MCP bridge sees them. `memory` is the `user` namespace; a script
or WASM tool has its own, which `memory.for_tool("local.primes")` shows.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from toolkernel._words import plural
from toolkernel.errors import RegistryError
from toolkernel.registry import USER_NAMESPACE, tool_namespace

if TYPE_CHECKING:
    from toolkernel.registry import ToolRegistry

__all__ = ["Memory"]


class Memory:
    """One memory namespace: small JSON values under string keys, with an optional ttl.

    Keys are non-empty str of at most 256 characters; a value is anything JSON can hold
    (dicts with str keys, lists, str, numbers, bools, None), at most 1 MiB as JSON; a
    namespace holds at most 10,000 keys. Breaking a limit raises `MemoryLimitError` and
    stores nothing.

    Example::

        memory.set("last_city", "Lyon")
        memory.set("token", token, ttl=3600)  # gone after an hour
        memory.get("last_city")               # 'Lyon'
        memory.list("last_")                  # ['last_city']

    Attributes:
        namespace: The namespace this object reads and writes (`user`, or
            `tool:<namespace.tool>`).
    """

    def __init__(self, registry: ToolRegistry, namespace: str = USER_NAMESPACE) -> None:
        """Show `namespace` of the memory in `registry`."""
        self._registry = registry
        self.namespace = namespace

    def __repr__(self) -> str:
        try:
            count = plural(len(self.list()), "key")
        except RegistryError as exc:
            count = f"unavailable: {exc}"
        return f"<Memory {self.namespace!r}: {count}>"

    def set(self, key: str, value: object, ttl: float | None = None) -> None:
        """Store `value` under `key`, replacing what was there.

        Args:
            key: Its name.
            value: Anything JSON can hold. It comes back as JSON gives it: tuples as
                lists, dict keys as str.
            ttl: Seconds until it expires; None keeps it until deleted.

        Raises:
            MemoryLimitError: The key, value or ttl breaks a limit. Nothing was stored.
        """
        self._registry.memory_set(self.namespace, key, value, ttl=ttl)

    def get(self, key: str, default: Any = None) -> Any:
        """Return the value under `key`, or `default` if there is none or it expired."""
        return self._registry.memory_get(self.namespace, key, default)

    def delete(self, key: str) -> bool:
        """Delete `key`; return whether it was there."""
        return self._registry.memory_delete(self.namespace, key)

    def list(self, prefix: str = "") -> builtins.list[str]:
        """Return the keys that start with `prefix` (taken literally), sorted."""
        return self._registry.memory_list(self.namespace, prefix)

    def for_tool(self, name: str) -> Memory:
        """Return the memory of registry tool `name` (`local.primes`): what it stores.

        Raises:
            RegistryError: `name` is not a valid `namespace.tool` name.
        """
        return Memory(self._registry, tool_namespace(name))
