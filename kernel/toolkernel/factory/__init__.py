"""The tool factory: create registry tools from source at run time."""

from toolkernel.factory._create import DEFAULT_NAMESPACE, WASM_LANGUAGES, ToolFactory

__all__ = ["DEFAULT_NAMESPACE", "WASM_LANGUAGES", "ToolFactory"]
