from __future__ import annotations

import toolkernel.bindings
from tk_support import modules_loaded_by


def test_exported_members() -> None:
    assert toolkernel.bindings.__all__ == [
        "GENERATOR_VERSION",
        "BindingCache",
        "Caller",
        "GeneratedModule",
        "ResourceReader",
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
        "get_resource_reader",
        "python_identifier",
        "resources_to_python",
        "set_caller",
        "set_resource_reader",
        "source_identifier",
        "to_python",
    ]
    for name in toolkernel.bindings.__all__:
        assert getattr(toolkernel.bindings, name) is not None


def test_importing_the_runtime_loads_no_mcp_pydantic_or_ipython() -> None:
    heavy = {"mcp", "pydantic", "IPython"}
    assert modules_loaded_by("toolkernel.bindings._runtime", heavy) == []


def test_the_import_check_sees_a_module_that_is_loaded() -> None:
    assert modules_loaded_by("toolkernel.kernel", {"ipykernel", "nothing_of_the_sort"}) == [
        "ipykernel"
    ]
