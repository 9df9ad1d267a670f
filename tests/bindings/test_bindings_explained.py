"""What a binding tells its caller: nested keys, whole sentences, and why a name is missing."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Any

import pytest
from bindings_support import RecordingCaller, load_generated, obj, tool

from toolkernel.bindings import BindingCache, ToolsNamespace, generate_module
from toolkernel.bindings._generate import wrapped_result_schema

# server-filesystem's edit_file, as its tools/list gives it.
EDITS = {
    "type": "array",
    "items": obj(
        {
            "oldText": {"type": "string", "description": "Text to search for - must match exactly"},
            "newText": {"type": "string", "description": "Text to replace with"},
        },
        ["oldText", "newText"],
    ),
}
EDIT_FILE = tool(
    "edit_file",
    source="filesystem",
    description="Make line-based edits to a text file.",
    input_schema=obj(
        {
            "path": {"type": "string"},
            "edits": EDITS,
            "dryRun": {
                "type": "boolean",
                "default": False,
                "description": "Preview changes using git-style diff format",
            },
        },
        ["path", "edits"],
    ),
    output_schema=obj({"content": {"type": "string"}}, ["content"]),
)
# The Python SDK's shape for `contacts: list[Contact]`, Contact holding an Address: $defs.
CONTACTS_SCHEMA = {
    "$defs": {
        "Address": {
            "description": "Where a contact lives.",
            "properties": {"city": {"type": "string"}, "postcode": {"type": "string"}},
            "required": ["city"],
            "type": "object",
        },
        "Contact": {
            "properties": {
                "name": {"type": "string"},
                "emails": {"items": {"type": "string"}, "type": "array"},
                "address": {"$ref": "#/$defs/Address"},
                "kind": {"enum": ["person", "company"], "type": "string"},
            },
            "required": ["name", "emails"],
            "type": "object",
        },
    },
    "properties": {
        "contacts": {
            "description": "The contacts to add.",
            "items": {"$ref": "#/$defs/Contact"},
            "type": "array",
        },
        "timeout": {"type": "number", "description": "in seconds", "default": 10},
    },
    "required": ["contacts"],
    "type": "object",
}


def doc_of(spec: Any, tmp_path: Path) -> str:
    module = load_generated(spec.source, [spec], tmp_path)
    return inspect.getdoc(getattr(module, next(iter(module.__toolkernel_tools__)))) or ""


def test_a_list_of_objects_parameter_lists_each_items_keys(tmp_path: Path) -> None:
    doc = doc_of(EDIT_FILE, tmp_path)

    assert (
        "    edits: Required. Each item's keys:\n"
        "        oldText (str): Text to search for - must match exactly.\n"
        "        newText (str): Text to replace with.\n"
    ) in doc
    assert "    EditFileResult: the structured result. Keys:\n        content (str)\n" in doc


def test_nested_referenced_objects_list_their_keys_at_every_level(tmp_path: Path) -> None:
    spec = tool("add_contacts", input_schema=CONTACTS_SCHEMA)
    doc = doc_of(spec, tmp_path)

    assert (
        "    contacts: The contacts to add. Each item's keys:\n"
        "        name (str)\n"
        "        emails (list[str])\n"
        "        address (AddContactsAddress, optional): Where a contact lives. Keys:\n"
        "            city (str)\n"
        "            postcode (str, optional)\n"
        "        kind (Literal['person', 'company'], optional): "
        'One of: ["person", "company"].\n'
    ) in doc


def test_a_recursive_type_lists_its_keys_once(tmp_path: Path) -> None:
    node = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "parent": {"$ref": "#/$defs/Node"}},
        "required": ["name"],
    }
    schema = {**obj({"node": {"$ref": "#/$defs/Node"}}, ["node"]), "$defs": {"Node": node}}
    spec = tool("walk", input_schema=schema)
    doc = doc_of(spec, tmp_path)

    assert doc.count("name (str)") == 1
    assert "parent (Any, optional)" in doc


def test_descriptions_without_a_final_period_do_not_run_into_the_next_sentence(
    tmp_path: Path,
) -> None:
    doc = doc_of(tool("add_contacts", input_schema=CONTACTS_SCHEMA), tmp_path)
    edit_doc = doc_of(EDIT_FILE, tmp_path)

    assert "timeout: in seconds. Server default: 10. Optional." in doc
    assert "dryRun: Preview changes using git-style diff format. Server default: false." in (
        edit_doc
    )


def test_the_sdk_wrapper_is_unwrapped_when_the_tool_is_named_unlike_its_function(
    caller: RecordingCaller, tmp_path: Path
) -> None:
    # `@server.tool(name="class")` on `def klass(text: str) -> str`: titled after klass.
    wrapper = {**obj({"result": {"type": "string"}}, ["result"]), "title": "klassOutput"}
    text = obj({"text": {"type": "string"}}, ["text"])
    spec = tool("class", input_schema=text, output_schema=wrapper)
    module = load_generated("demo", [spec], tmp_path)
    caller.reply = {"result": "class x"}

    assert str(inspect.signature(module.class_)) == "(*, text: str) -> str"
    assert asyncio.run(module.class_(text="x")) == "class x"


def test_a_result_schema_that_is_not_an_object_is_not_taken_for_the_wrapper() -> None:
    schema = {**obj({"result": {"type": "string"}}, ["result"]), "title": "xOutput"}
    assert wrapped_result_schema(tool("t", output_schema=schema)) == {"type": "string"}
    odd = {**schema, "type": "array"}
    assert wrapped_result_schema(tool("t", output_schema=odd)) is None


def test_an_unknown_tool_names_close_ones_and_how_to_search(
    namespace: ToolsNamespace,
) -> None:
    names = ["get_sum", "get-sum", "echo"]
    namespace.set_source("everything", [tool(name, source="everything") for name in names])

    with pytest.raises(AttributeError) as info:
        _ = namespace.everything.get_summ
    message = str(info.value)
    assert message.startswith("tools.everything has no tool 'get_summ'; did you mean 'get_sum'")
    assert "list_tool_names('everything')" in message
    assert "search_tools('get summ')" in message
    assert not hasattr(namespace.everything, "get_summ")
    assert namespace.everything.get_sum.__name__ == "get_sum"
    with pytest.raises(ImportError, match="get_summ"):
        from tools.everything import get_summ  # type: ignore[import-not-found]  # noqa: F401


def test_a_configured_source_that_is_not_loaded_says_why(tmp_path: Path) -> None:
    reasons = {"sqlite": "its server failed to connect. Install it."}
    namespace = ToolsNamespace(BindingCache(tmp_path), explain=reasons.get)
    namespace.set_source("filesystem", [tool("read", source="filesystem")])

    with pytest.raises(AttributeError) as info:
        _ = namespace.sqlite
    assert str(info.value) == (
        "tools.sqlite is unavailable: its server failed to connect. Install it."
    )
    with pytest.raises(AttributeError, match=r"no tool source 'github'.*filesystem \(1 tool\)"):
        _ = namespace.github


def test_docstrings_of_the_demo_catalog_end_each_argument_with_a_sentence(
    demo_specs: list[Any],
) -> None:
    code = generate_module("demo-server", demo_specs).source_code
    assert "format Server default" not in code
    assert ". Server default: 10. Optional." in code
