"""A real registry, host and factory on a tmp home, for the bundle tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from toolkernel._spec import ToolResult
from toolkernel.factory import ToolFactory
from toolkernel.host import ToolHost
from toolkernel.registry import ToolRegistry

WAT_V1 = '(module (memory (export "memory") 1) (func (export "_start")))'
WAT_V2 = '(module (memory (export "memory") 1) (func (export "_start") nop))'
SCRIPT = """import json, sys
request = json.loads(sys.stdin.readline())
text = request["params"]["arguments"]["text"]
print(json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": len(text.split())}))
"""
TEXT_SCHEMA = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
SKILL_MD = "---\nname: weekly-review\ndescription: Review the week's notes.\n---\n# Steps\n"


_HOSTS: dict[ToolFactory, ToolHost] = {}


@contextmanager
def factory_at(home: Path) -> Iterator[ToolFactory]:
    """A factory over a real registry at `home`, and a started host serving its tools."""
    registry = ToolRegistry(home)
    host = ToolHost({}, registry=registry, logs_dir=home / "logs")
    host.start()
    factory = ToolFactory(registry, reserved=(), cache_dir=home / "cache")
    _HOSTS[factory] = host
    try:
        yield factory
    finally:
        del _HOSTS[factory]
        host.stop()
        registry.close()


def call(factory: ToolFactory, name: str, arguments: dict[str, Any]) -> ToolResult:
    """Call `name` through the host beside `factory` (from this thread's own loop)."""
    return asyncio.run(asyncio.wait_for(_HOSTS[factory].call(name, arguments), 60))


def fill(factory: ToolFactory) -> None:
    """A WAT tool with 3 versions (one a rollback), a script, a pipeline and two skills."""
    factory.create("local.noop", kind="wasm", language="wat", source=WAT_V1, note="first")
    factory.create("local.noop", kind="wasm", language="wat", source=WAT_V2, note="second")
    factory.registry.rollback_tool("local.noop", 1, note="back to one")
    factory.create(
        "local.words",
        kind="script",
        language="python",
        source=SCRIPT,
        input_schema=TEXT_SCHEMA,
        description="Count words.",
    )
    factory.create(
        "local.twice",
        kind="pipeline",
        steps=[
            {"id": "a", "tool": "local.words", "args": {"text": "${input.text}"}},
            {"id": "b", "tool": "local.words", "args": {"text": "${input.text}"}},
        ],
        input_schema=TEXT_SCHEMA,
    )
    factory.create(
        "greet",
        kind="skill",
        language="python",
        source="async def greet(who: str) -> str:\n    return who\n",
    )
    factory.create(None, kind="skill", language="markdown", source={"SKILL.md": SKILL_MD})
