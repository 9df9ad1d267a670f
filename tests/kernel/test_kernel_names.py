"""Every name a kernel gives out is taken back, and what it says about tools is whole.

The `my-names` server (tests/servers/names_server.py) has a hyphenated name and tools
named `class`, `2fa`, `get-weather` and `get_weather`; `filesystem` is npm's
server-filesystem; `one` has a single tool; `broken` cannot start.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tk_support import npm_server, python_server, start_kernel

pytestmark = [pytest.mark.npm, pytest.mark.timeout(180)]

PYTHON_NAMES = [
    "my_names._2fa",
    "my_names.add_contacts",
    "my_names.class_",
    "my_names.get_weather_2",
    "my_names.get_weather",
]


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    base = tmp_path_factory.mktemp("names-kernel")
    driver = start_kernel(
        base,
        {
            "my-names": python_server("names_server.py"),
            "filesystem": npm_server("mcp-server-filesystem", str(base)),
            "one": python_server("many_tools_server.py", "--count", "1", "--prefix", "one"),
            "broken": {"command": str(base / "no-such-server")},
        },
    )
    states = driver.value("[[s.name, s.state] for s in await wait_for_servers(60)]", timeout=90)
    assert states == [
        ["my-names", "connected"],
        ["filesystem", "connected"],
        ["one", "connected"],
        ["broken", "failed"],
    ]
    yield driver
    driver.shutdown()


def test_listed_names_are_python_names_and_the_server_filter_takes_both_spellings(
    kernel: Any,
) -> None:
    assert kernel.value("list_tool_names('my_names')") == PYTHON_NAMES
    assert kernel.value("list_tool_names('my-names')") == PYTHON_NAMES
    assert set(PYTHON_NAMES) <= set(kernel.value("list_tool_names()"))


@pytest.mark.parametrize(
    ("name", "mcp_name"),
    [
        ("my_names.class_", "class"),
        ("my_names._2fa", "2fa"),
        ("my_names.get_weather_2", "get-weather"),
        ("my_names.get_weather", "get_weather"),
        ("my-names.class", "class"),
        ("tools.my_names.class_", "class"),
    ],
)
def test_get_tool_details_takes_every_listed_name_and_the_original(
    kernel: Any, name: str, mcp_name: str
) -> None:
    details = kernel.value(f"get_tool_details({name!r}).to_json()")
    assert (details["source"], details["mcp_name"]) == ("my-names", mcp_name)
    assert details["name"].startswith("my_names.")


def test_every_name_search_returns_round_trips_through_details_and_percent_tools_show(
    kernel: Any,
) -> None:
    found = kernel.value("search_tools('weather', detail='name')")
    assert {"my_names.get_weather", "my_names.get_weather_2"} <= set(found)
    for name in found:
        assert kernel.value(f"get_tool_details({name!r}).name") == name
    shown = kernel.execute("%tools show my_names.get_weather_2")
    assert "Weather, from the tool with a hyphen in its name." in shown.stdout
    assert "Calls 'get-weather' on 'my-names'." in shown.stdout


def test_each_binding_calls_its_own_tool_and_wrapped_results_are_unwrapped(kernel: Any) -> None:
    calls = (
        "[await tools.my_names.class_(text='x'), await tools.my_names._2fa(code='1'),"
        " await tools.my_names.get_weather(city='a'), await tools.my_names.get_weather_2(city='b')]"
    )
    assert kernel.value(calls) == ["class x", "2fa ok 1", "get_weather a", "get-weather b"]


def test_a_pipeline_step_may_name_its_tool_by_the_python_name(kernel: Any) -> None:
    kernel.execute(
        "create_tool('classify', kind='pipeline', steps=["
        "{'id': 'c', 'tool': 'my_names.class_', 'args': {'text': 'y'}},"
        "{'id': 'w', 'tool': 'my_names.get_weather_2', 'args': {'city': 'z'}}],"
        " output=['${steps.c.result}', '${steps.w.result}'])"
    )
    assert kernel.value("await tools.local.classify()") == [
        {"result": "class y"},
        {"result": "get-weather z"},
    ]


def test_details_and_help_show_the_keys_of_nested_parameters(kernel: Any) -> None:
    edit = kernel.execute("print(get_tool_details('filesystem.edit_file'))").stdout
    assert "edits: Required. Each item's keys:" in edit
    assert "oldText (str): Text to search for - must match exactly." in edit
    assert "newText (str): Text to replace with." in edit
    contacts = kernel.execute("help(tools.my_names.add_contacts)").stdout
    assert "contacts: The contacts to add. Each item's keys:" in contacts
    assert "emails (list[str])" in contacts
    assert "address (AddContactsAddress, optional): Where a contact lives. Keys:" in contacts
    assert "postcode (str, optional)" in contacts
    assert "dry_run: Only count them. Nothing is saved. Server default: false. Optional." in (
        contacts
    )


def test_a_failed_server_under_tools_says_that_it_failed_and_why(kernel: Any) -> None:
    out = kernel.execute("tools.broken", allow_error=True)
    assert out.error is not None
    assert out.error["ename"] == "AttributeError"
    assert out.error["evalue"].startswith(
        "tools.broken is unavailable: its server failed to connect. "
    )
    assert "no-such-server" in out.error["evalue"]
    # The namespace's message is the whole story: no toolkernel frames are shown.
    assert "_namespace.py" not in out.traceback


def test_an_attribute_error_of_the_users_own_keeps_its_full_traceback(kernel: Any) -> None:
    code = "import json.decoder as d\ndef f():\n    return d.JSONDecoder().nope\nf()"
    out = kernel.execute(code, allow_error=True)
    assert out.error is not None
    assert out.error["ename"] == "AttributeError"
    shown = re.sub(r"\x1b\[[0-9;]*m", "", out.traceback)
    assert shown.count("Cell In[") == 2, shown  # the call, then the line in f()
    assert "return d.JSONDecoder().nope" in shown


def test_an_unknown_tool_suggests_the_close_one_and_search(kernel: Any) -> None:
    out = kernel.execute("tools.my_names.get_weathr", allow_error=True)
    assert out.error is not None
    message = out.error["evalue"]
    assert "tools.my_names has no tool 'get_weathr'; did you mean 'get_weather'" in message
    assert "search_tools('get weathr')" in message
    assert "_namespace.py" not in out.traceback


def test_percent_tools_counts_tools_in_the_singular_and_the_plural(kernel: Any) -> None:
    lines = kernel.execute("%tools").stdout.splitlines()
    assert any(line.startswith("✓ one ") and line.endswith(" 1 tool") for line in lines), lines
    assert any(line.startswith("✓ my-names ") and line.endswith(" 5 tools") for line in lines)
