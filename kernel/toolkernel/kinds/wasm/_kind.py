"""The `wasm` kind: a WASI command module built from source, run under wasmtime's limits."""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any

from toolkernel.errors import RegistryError
from toolkernel.kinds._sources import needs_a_name
from toolkernel.kinds.wasm._build import WASM_LANGUAGES, build_module, wasm_source_files
from toolkernel.kinds.wasm._runner import WasmTools, check_wasm_limits, check_wasm_policy

if TYPE_CHECKING:
    from toolkernel._spec import ToolResult
    from toolkernel.kinds._draft import ToolDraft
    from toolkernel.kinds._protocol import CallContext, KindContext, LineSink, ToolIndex
    from toolkernel.registry import ToolVersion

__all__ = ["WasmKind"]


class WasmKind:
    """WASM tools: checked limits and policy, a cached build, a shared runner."""

    name: str = "wasm"
    namespace: str | None = None
    served: bool = True

    def __init__(self, context: KindContext) -> None:
        """Build and run WASM tools of `context.registry`."""
        self._context = context
        self._tools: WasmTools | None = None
        self._lock = threading.Lock()

    def default_name(self, source: object) -> str:
        """A WASM tool's source gives no name: refuse."""
        raise needs_a_name(self.name)

    def check(self, name: str, draft: ToolDraft, tools: ToolIndex) -> dict[str, Any]:
        """Check the language, limits and policy."""
        if draft.language not in WASM_LANGUAGES:
            msg = (
                f"unknown WASM language {draft.language!r}; use one of {', '.join(WASM_LANGUAGES)}"
            )
            raise RegistryError(msg)
        if draft.output not in (None, "json", "text"):
            msg = (
                f"a WASM tool's output is 'json' (the default: stdout is one JSON value) or "
                f"'text' (stdout is the result, a string, as Skillz returns it), not "
                f"{draft.output!r}"
            )
            raise RegistryError(msg)
        checked = {
            "language": draft.language,
            "limits": check_wasm_limits(draft.limits),
            "policy": check_wasm_policy(draft.policy),
        }
        # Only a text tool records it, so every other manifest (and its hash) is as before.
        return checked | ({"output": "text"} if draft.output == "text" else {})

    def build(
        self, name: str, draft: ToolDraft, manifest: dict[str, Any], on_line: LineSink | None
    ) -> dict[str, Any]:
        """Store the sources, and the module built from them (`artifact`)."""
        language = manifest["language"]
        files = wasm_source_files(language, draft.source)
        registry = self._context.registry
        return {
            "source": {path: registry.put_blob(data) for path, data in files.items()},
            "artifact": build_module(self._context, name, language, files, on_line),
        }

    def install(self, name: str, manifest: dict[str, Any], on_line: LineSink | None) -> None:
        """Nothing: the module is all a WASM tool needs."""

    async def run(
        self, version: ToolVersion, arguments: dict[str, Any], call: CallContext
    ) -> ToolResult:
        """Run a short call right here, else the module on a worker thread.

        A warm call is first tried on the host loop within a slice of about 2 ms
        (`WasmTools.run_sliced`): most tool calls end well within it and are spared two
        thread switches. One that needs longer, or wants to sleep, is dropped and run
        again from scratch on a worker thread, so the host loop stays free.
        """
        tools = self._runner()
        result = tools.run_sliced(version, arguments)
        if result is not None:
            return result
        return await asyncio.to_thread(tools.run, version, arguments)

    async def aclose(self) -> None:
        """Nothing runs on the host loop."""

    def close(self) -> None:
        """Stop the runner's epoch ticker and drop compiled modules."""
        with self._lock:
            tools, self._tools = self._tools, None
        if tools is not None:
            tools.close()

    def _runner(self) -> WasmTools:
        with self._lock:
            if self._tools is None:
                self._tools = WasmTools(self._context.registry, self._context.cache_dir / "wasm")
            return self._tools
