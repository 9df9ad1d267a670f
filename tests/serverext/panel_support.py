"""The registry the server extension tests fill, and helpers to call its REST API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from toolkernel import ToolSpec
from toolkernel.registry import ToolRegistry

API = ("toolkernel", "api")

SKILL_SOURCE = """\
import json


async def report(topic: str, n: int = 3, *, tags: list[str] | None = None) -> dict[str, int]:
    return {"topic": len(json.dumps(topic)), "n": n}
"""


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required}


FILESYSTEM = [
    ToolSpec(
        "filesystem",
        "read_file",
        "Read the complete contents of a file from the file system.",
        _object(
            {"path": {"type": "string"}, "head": {"type": "integer", "description": "First N"}},
            ["path"],
        ),
        annotations={"readOnlyHint": True},
    ),
    ToolSpec(
        "filesystem",
        "write_file",
        "Create a new file or overwrite an existing file with new content.",
        _object({"path": {"type": "string"}, "content": {"type": "string"}}, ["path", "content"]),
        annotations={"destructiveHint": True},
    ),
    ToolSpec(
        "filesystem",
        "list_directory",
        "List the files and directories in a directory.",
        _object({"path": {"type": "string"}}, ["path"]),
    ),
]
EVERYTHING = [
    ToolSpec(
        "everything",
        "get-weather",
        "Get the weather forecast for a city.",
        _object(
            {
                "city": {"type": "string"},
                "units": {"enum": ["metric", "imperial"]},
                "days": {"type": "integer"},
                "verbose": {"type": "boolean"},
            },
            ["city", "units", "verbose"],
        ),
        title="Weather",
    ),
    ToolSpec("everything", "echo", "Echo back the message.", _object({"message": {}}, [])),
]


def _wasm_manifest(registry: ToolRegistry, description: str, wat: str) -> dict[str, Any]:
    return {
        "description": description,
        "language": "wat",
        "input_schema": _object({"text": {"type": "string"}}, ["text"]),
        "output_schema": _object({"count": {"type": "integer"}}, ["count"]),
        "source": {"tool.wat": registry.put_blob(wat.encode())},
        "limits": {"fuel": 1_000_000},
        "policy": {"network": False},
    }


def fill_registry(home: Path) -> None:
    """Fill the registry under `home` through its public API, as kernels would."""
    with ToolRegistry(home) as registry:
        registry.save_catalog("filesystem", FILESYSTEM)
        registry.save_catalog("everything", EVERYTHING)
        for description, wat in [
            ("Count the words in a text.", "(module)\n"),
            ("Count the words in a text, fast.", '(module (memory (export "memory") 1))\n'),
        ]:
            registry.add_version(
                "local.word_count",
                kind="wasm",
                manifest=_wasm_manifest(registry, description, wat),
                note=description,
                author="tester",
            )
        registry.add_version(
            "skills.report",
            kind="skill",
            manifest={
                "description": "Write a short report on a topic.",
                "language": "python",
                "entry": "report",
                "source": {"skill.py": registry.put_blob(SKILL_SOURCE.encode())},
                "input_schema": {"type": "object"},
            },
        )
        registry.set_server_status("filesystem", "connected", tool_count=len(FILESYSTEM))
        registry.set_server_status(
            "everything",
            "failed",
            detail="server 'everything' exited during initialize: npx not found; install Node",
        )


async def get_json(jp_fetch: Any, *parts: str, **params: Any) -> Any:
    """GET `toolkernel/api/<parts>` and return the decoded JSON (raises on an error status)."""
    response = await jp_fetch(*API, *parts, params={k: str(v) for k, v in params.items()})
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    return json.loads(response.body)


async def error_of(jp_fetch: Any, *parts: str, method: str = "GET", **kwargs: Any) -> Any:
    """Send a request that must fail; return (status, JSON message)."""
    response = await jp_fetch(*API, *parts, method=method, raise_error=False, **kwargs)
    assert response.code >= 400, response.body
    return response.code, json.loads(response.body)["message"]
