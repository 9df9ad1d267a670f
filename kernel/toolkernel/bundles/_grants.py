"""What a tool to import asks of the host, and the digest an approval of it records.

A grant is anything that reaches past the sandbox: the network (`policy.network`), host
paths (`policy.read_only`, `policy.writable`, a WASM `policy.mounts`) and host secrets
(`secrets`). A tool that asks for none imports without a question. Nothing here touches
the filesystem.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from toolkernel.bundles._folder import ToolSource
from toolkernel.config import ToolGrants

__all__ = ["definition_digest", "tool_grants", "trust_message"]


def tool_grants(found: ToolSource) -> list[str]:
    """The grants `found` asks for, readable (`network on`, `secret API_KEY`); [] for none."""
    policy = found.kwargs.get("policy")
    grants: list[str] = []
    if policy is not None and not isinstance(policy, Mapping):
        return [f"a policy that is not an object: {policy!r}"]
    policy = policy or {}
    network = policy.get("network", False)
    if network is not False and network is not None:
        # Any value but false asks: the factory refuses non-booleans, but never assume so.
        grants.append("network on" if network is True else f"network {network!r}")
    for key, label in (("read_only", "read-only"), ("writable", "writable")):
        grants += [f"{label} host path {path}" for path in _items(policy.get(key))]
    for mount in _items(policy.get("mounts")):
        if isinstance(mount, Mapping):
            access = "writable" if mount.get("writable") is True else "read-only"
            grants.append(f"{access} host dir {mount.get('host')} as {mount.get('guest')}")
        else:
            grants.append(f"a mount {mount!r}")
    grants += [
        f"secret {name} (from $TOOLKERNEL_SECRET_{name})"
        for name in _items(found.kwargs.get("secrets"))
    ]
    return grants


def definition_digest(name: str, found: ToolSource) -> str:
    """The sha256 of everything `found` would store as `name`: its files, schemas, policy."""
    definition = {
        "name": name,
        "kind": found.kind,
        "kwargs": _canonical(found.kwargs),
        "artifact": _canonical(found.artifact),
    }
    text = json.dumps(definition, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def trust_message(source: str, pending: list[ToolGrants]) -> str:
    """The refusal: what each tool asks for, and how to approve it."""
    lines = "\n".join(f"  {tool.tool}: {'; '.join(tool.grants)}" for tool in pending)
    return (
        f"{source} holds tools that ask for more than the sandbox gives, and no person has "
        f"approved them; nothing was imported:\n{lines}\n"
        "Read those tools. If you trust them, import again with "
        "import_tools(source, trust=True) (CLI: toolkernel tools import SOURCE --trust). "
        "The approval is kept for exactly this content, so importing the same tools again "
        "does not ask; a changed tool asks again."
    )


def _items(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        return [value]
    return list(value)


def _canonical(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"bytes-sha256": hashlib.sha256(value).hexdigest()}
    if isinstance(value, Mapping):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    return value
