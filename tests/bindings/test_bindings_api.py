from __future__ import annotations

import json
import subprocess
import sys

import toolkernel.bindings


def test_exported_members() -> None:
    assert toolkernel.bindings.__all__ == [
        "GENERATOR_VERSION",
        "BindingCache",
        "Caller",
        "GeneratedModule",
        "ToolAudio",
        "ToolContent",
        "ToolImage",
        "ToolResource",
        "ToolResourceLink",
        "ToolsNamespace",
        "binding",
        "call_tool",
        "content_to_python",
        "generate_module",
        "get_caller",
        "python_identifier",
        "set_caller",
        "source_identifier",
        "to_python",
    ]
    for name in toolkernel.bindings.__all__:
        assert getattr(toolkernel.bindings, name) is not None


def test_importing_the_runtime_loads_no_mcp_pydantic_or_ipython() -> None:
    code = (
        "import json, sys\n"
        "import toolkernel.bindings._runtime\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in {'mcp', 'pydantic', 'IPython'}]\n"
        "print(json.dumps(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert json.loads(out) == []
