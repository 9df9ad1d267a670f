"""The installed `toolkernel` command, run as a subprocess against a prepared registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import toolkernel
from toolkernel import ToolSpec
from toolkernel.registry import ToolRegistry

TOOLKERNEL = Path(sys.executable).parent / "toolkernel"

WEATHER = [
    ToolSpec(
        source="weather",
        name="get-forecast",
        description="Get the weather forecast for a city.\n\nGives one line per day.",
        input_schema={
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name"},
                "units": {
                    "type": "string",
                    "enum": ["metric", "imperial"],
                    "description": "Unit system",
                },
                "days": {"type": "integer", "description": "How many days"},
            },
            "required": ["city"],
        },
        annotations={"readOnlyHint": True},
    ),
    ToolSpec(source="weather", name="list_cities", description="List the supported cities."),
]
NOTES = [
    ToolSpec(
        source="notes",
        name="add-note",
        description="Add a note with a title and a body.",
        input_schema={
            "type": "object",
            "properties": {"title": {"type": "string"}, "body": {"type": "string"}},
            "required": ["title", "body"],
        },
    ),
    ToolSpec(source="notes", name="search-notes", description="Find notes whose text matches."),
    ToolSpec(source="notes", name="delete-note", description="Delete one note by its title."),
]
RETIRED = [ToolSpec(source="retired", name="old-tool", description="No longer configured.")]


def run(
    *args: str, cwd: Path, home: Path | None = None, env_home: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI with `--home home` (when given) and `$TOOLKERNEL_HOME=env_home`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLKERNEL_")}
    if env_home is not None:
        env["TOOLKERNEL_HOME"] = str(env_home)
    argv = [str(TOOLKERNEL), *(["--home", str(home)] if home is not None else []), *args]
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def is_this_interpreter(path: str) -> bool:
    """`path` is this environment's Python (`python` or `python3`: the same file)."""
    here = Path(sys.executable)
    return Path(path).parent == here.parent and Path(path).samefile(here)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder whose mcp.json names `weather` and `notes` (not `retired`)."""
    folder = tmp_path / "project"
    folder.mkdir()
    servers = {"weather": {"command": "weather-server"}, "notes": {"command": "notes-server"}}
    (folder / "mcp.json").write_text(json.dumps({"mcpServers": servers}), encoding="utf-8")
    return folder


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A toolkernel home whose registry caches three servers' catalogs."""
    path = tmp_path / "home"
    with ToolRegistry(path) as registry:
        registry.save_catalog("weather", WEATHER)
        registry.save_catalog("notes", NOTES)
        registry.save_catalog("retired", RETIRED)
    return path


def test_tools_list_prints_the_configured_servers_tools_by_python_name(
    project: Path, home: Path
) -> None:
    out = run("tools", "list", cwd=project, home=home)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "notes.add_note",
        "notes.delete_note",
        "notes.search_notes",
        "weather.get_forecast",
        "weather.list_cities",
    ]


def test_tools_list_reads_the_home_from_the_environment(project: Path, home: Path) -> None:
    out = run("tools", "list", "--json", cwd=project, env_home=home)
    assert out.returncode == 0, out.stderr
    names = json.loads(out.stdout)
    assert names == [
        "notes.add_note",
        "notes.delete_note",
        "notes.search_notes",
        "weather.get_forecast",
        "weather.list_cities",
    ]


def test_the_home_option_wins_over_the_environment(
    project: Path, home: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty-home"
    empty.mkdir()
    assert "no registry at" in run("tools", "list", cwd=project, env_home=empty).stderr
    out = run("tools", "list", cwd=project, home=home, env_home=empty)
    assert "weather.get_forecast" in out.stdout.splitlines()


def test_tools_list_server_shows_one_server_as_json(project: Path, home: Path) -> None:
    out = run("tools", "list", "--server", "weather", "--json", cwd=project, home=home)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == ["weather.get_forecast", "weather.list_cities"]


def test_tools_list_of_an_unknown_server_fails_and_names_the_known_ones(
    project: Path, home: Path
) -> None:
    out = run("tools", "list", "--server", "wether", cwd=project, home=home)
    assert out.returncode == 1
    assert out.stdout == ""
    assert "no server named 'wether'" in out.stderr
    assert "weather" in out.stderr


def test_a_cached_server_missing_from_mcp_json_is_not_listed(project: Path, home: Path) -> None:
    out = run("tools", "list", "--json", cwd=project, home=home)
    assert not any(name.startswith("retired.") for name in json.loads(out.stdout))
    shown = run("tools", "show", "retired.old-tool", cwd=project, home=home)
    assert shown.returncode == 1
    assert "'retired', which is not in mcp.json; add it there" in shown.stderr


def test_a_home_without_a_registry_says_to_start_a_kernel_and_creates_nothing(
    tmp_path: Path,
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for command in (("tools", "list"), ("servers",)):
        out = run(*command, cwd=tmp_path, home=empty)
        assert out.returncode == 1
        assert "start a Toolkernel kernel once" in out.stderr
    assert list(empty.iterdir()) == []


def test_tools_search_ranks_the_best_match_first_with_its_signature(
    project: Path, home: Path
) -> None:
    out = run("tools", "search", "weather", "forecast", "for", "a", "city", cwd=project, home=home)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "weather.get_forecast"
    assert lines[1].strip().startswith("get_forecast(*, city: str,")
    assert lines[2].strip() == "Get the weather forecast for a city."
    assert lines[3::3] == ["weather.list_cities"], "a weaker match follows; no others"


def test_tools_search_detail_name_prints_names_only(project: Path, home: Path) -> None:
    out = run("tools", "search", "add a note", "--detail", "name", cwd=project, home=home)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "notes.add_note"
    assert all("(" not in line for line in out.stdout.splitlines())


def test_tools_search_json_respects_the_limit(project: Path, home: Path) -> None:
    out = run("tools", "search", "forecast", "--limit", "1", "--json", cwd=project, home=home)
    rows = json.loads(out.stdout)
    assert [row["name"] for row in rows] == ["weather.get_forecast"]
    assert rows[0]["description"] == "Get the weather forecast for a city."


def test_tools_search_with_no_match_says_so(project: Path, home: Path) -> None:
    out = run("tools", "search", "zzyzx", cwd=project, home=home)
    assert out.returncode == 0
    assert out.stdout.strip() == "no match"


def test_tools_show_prints_the_async_signature_and_the_docstring(project: Path, home: Path) -> None:
    out = run("tools", "show", "weather.get_forecast", cwd=project, home=home)
    assert out.returncode == 0, out.stderr
    first, _, rest = out.stdout.partition("\n")
    assert first.startswith("async def get_forecast(*, city: str, ")
    assert "units: " in first
    assert "Literal['metric', 'imperial']" in first
    assert "days: int" in first
    assert first.endswith(" -> Any")
    assert "Get the weather forecast for a city." in rest
    assert "Gives one line per day." in rest
    assert "Calls 'get-forecast' on 'weather'" in rest
    assert "city: City name" in rest


def test_tools_show_accepts_the_original_hyphenated_name(project: Path, home: Path) -> None:
    by_python = run("tools", "show", "weather.get_forecast", cwd=project, home=home)
    by_mcp = run("tools", "show", "weather.get-forecast", cwd=project, home=home)
    assert by_mcp.returncode == 0, by_mcp.stderr
    assert by_mcp.stdout == by_python.stdout


def test_tools_show_json_has_both_names_and_the_schema(project: Path, home: Path) -> None:
    out = run("tools", "show", "notes.add-note", "--json", cwd=project, home=home)
    details = json.loads(out.stdout)
    assert details["name"] == "notes.add_note"
    assert details["mcp_name"] == "add-note"
    assert details["signature"] == "add_note(*, title: str, body: str) -> Any"
    assert details["input_schema"] == NOTES[0].input_schema


def test_an_unknown_tool_exits_1_and_suggests_close_names_on_stderr(
    project: Path, home: Path
) -> None:
    out = run("tools", "show", "weather.get-forcast", cwd=project, home=home)
    assert out.returncode == 1
    assert out.stdout == ""
    assert out.stderr.startswith("toolkernel: no tool 'weather.get-forcast'")
    assert "did you mean 'weather.get-forecast'?" in out.stderr
    assert "search_tools(" in out.stderr


def test_servers_prints_each_servers_last_status(project: Path, home: Path) -> None:
    with ToolRegistry(home) as registry:
        registry.set_server_status("weather", "connected", tool_count=2)
        registry.set_server_status(
            "notes", "failed", detail="command 'notes-server' was not found. Install it."
        )
    out = run("servers", cwd=project, home=home)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "notes: failed",
        "    command 'notes-server' was not found. Install it.",
        "weather: connected (2 tools)",
    ]
    rows = json.loads(run("servers", "--json", cwd=project, home=home).stdout)
    assert rows == [
        {
            "name": "notes",
            "state": "failed",
            "detail": "command 'notes-server' was not found. Install it.",
            "tool_count": None,
        },
        {"name": "weather", "state": "connected", "detail": None, "tool_count": 2},
    ]


def test_install_kernel_writes_a_kernelspec_for_this_interpreter(tmp_path: Path) -> None:
    prefix = tmp_path / "prefix"
    out = run("install-kernel", "--prefix", str(prefix), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    spec_file = prefix / "share" / "jupyter" / "kernels" / "toolkernel" / "kernel.json"
    spec = json.loads(spec_file.read_text(encoding="utf-8"))
    assert is_this_interpreter(spec["argv"][0])
    assert spec["argv"][1:] == [
        "-P",
        "-m",
        "toolkernel.launcher",
        "-f",
        "{connection_file}",
    ]
    assert spec["display_name"] == "Toolkernel"
    assert str(spec_file.parent) in out.stdout
    assert (spec_file.parent / "logo-svg.svg").read_text().startswith("<svg")  # launcher tile


def test_install_kernel_also_installs_the_sandboxed_kernelspec(tmp_path: Path) -> None:
    prefix = tmp_path / "prefix"
    out = run("install-kernel", "--prefix", str(prefix), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    kernels = prefix / "share" / "jupyter" / "kernels"
    assert sorted(p.name for p in kernels.iterdir()) == ["toolkernel", "toolkernel-sandboxed"]
    spec = json.loads((kernels / "toolkernel-sandboxed" / "kernel.json").read_text())
    assert spec["argv"][1:] == ["-P", "-s", "-m", "toolkernel.sandboxed", "-f", "{connection_file}"]
    assert spec["display_name"] == "Toolkernel (sandboxed)"
    assert spec["metadata"]["kernel_provisioner"] == {"provisioner_name": "toolkernel-sandboxed"}
    assert "'toolkernel-sandboxed'" in out.stdout
    assert is_this_interpreter(spec["argv"][0])


def test_install_kernel_names_a_sandboxed_spec(tmp_path: Path) -> None:
    prefix = tmp_path / "prefix"
    args = ("install-kernel", "--prefix", str(prefix), "--name", "agents", "--sandboxed")
    assert run(*args, cwd=tmp_path).returncode == 0
    spec_file = prefix / "share" / "jupyter" / "kernels" / "agents" / "kernel.json"
    spec = json.loads(spec_file.read_text(encoding="utf-8"))
    assert spec["argv"][4] == "toolkernel.sandboxed"
    assert spec["display_name"] == "Toolkernel (agents)"


def test_install_kernel_takes_a_name_and_a_display_name(tmp_path: Path) -> None:
    prefix = tmp_path / "prefix"
    out = run(
        "install-kernel",
        "--prefix",
        str(prefix),
        "--name",
        "other",
        "--display-name",
        "Tools (staging)",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    kernels = prefix / "share" / "jupyter" / "kernels"
    assert [p.name for p in kernels.iterdir()] == ["other"]
    spec = json.loads((kernels / "other" / "kernel.json").read_text(encoding="utf-8"))
    assert spec["display_name"] == "Tools (staging)"
    assert is_this_interpreter(spec["argv"][0])


def test_install_kernel_names_an_extra_spec_after_its_name_by_default(tmp_path: Path) -> None:
    prefix = tmp_path / "prefix"
    run("install-kernel", "--prefix", str(prefix), "--name", "gpu", cwd=tmp_path)
    spec_file = prefix / "share" / "jupyter" / "kernels" / "gpu" / "kernel.json"
    assert json.loads(spec_file.read_text(encoding="utf-8"))["display_name"] == "Toolkernel (gpu)"


def test_version_prints_the_package_version(tmp_path: Path) -> None:
    out = run("--version", cwd=tmp_path)
    assert out.returncode == 0
    assert out.stdout.strip() == f"toolkernel {toolkernel.__version__}"


@pytest.mark.parametrize("args", [(), ("tools",)], ids=["no-command", "tools-alone"])
def test_no_subcommand_prints_help_and_exits_2(tmp_path: Path, args: tuple[str, ...]) -> None:
    out = run(*args, cwd=tmp_path)
    assert out.returncode == 2
    assert out.stdout.startswith("usage: toolkernel")
    assert "install-kernel" in out.stdout


def test_trust_approves_a_folders_mcp_json_then_lists_and_revokes_it(
    project: Path, home: Path
) -> None:
    config = project / "mcp.json"
    out = run("trust", str(project), cwd=project, home=home)
    assert out.returncode == 0, out.stderr
    assert f"approved {config.resolve()}" in out.stdout
    assert "  weather: weather-server" in out.stdout
    assert (home / "trust.json").stat().st_mode & 0o777 == 0o600
    listed = json.loads(run("trust", "--list", "--json", cwd=project, home=home).stdout)
    assert [(a["kind"], a["subject"]) for a in listed] == [("mcp.json", str(config.resolve()))]
    out = run("trust", "--revoke", str(config), cwd=project, home=home)
    assert out.returncode == 0, out.stderr
    assert f"revoked mcp.json {config.resolve()}" in out.stdout
    assert run("trust", "--list", cwd=project, home=home).stdout.strip() == "nothing approved yet"
    again = run("trust", "--revoke", str(config), cwd=project, home=home)
    assert again.returncode == 1
    assert "toolkernel trust --list" in again.stderr


def test_trust_of_a_file_that_is_not_json_approves_nothing(tmp_path: Path, home: Path) -> None:
    (tmp_path / "mcp.json").write_text("{nope", encoding="utf-8")
    out = run("trust", str(tmp_path / "mcp.json"), cwd=tmp_path, home=home)
    assert out.returncode == 1
    assert "cannot approve" in out.stderr
    assert not (home / "trust.json").exists()


def test_tools_import_refuses_grants_until_trust_is_given(tmp_path: Path, home: Path) -> None:
    folder = tmp_path / "bundle" / "fetch"
    folder.mkdir(parents=True)
    spec = {"name": "local.fetch", "kind": "script", "language": "python"}
    spec |= {"policy": {"network": True}, "secrets": ["TOKEN"]}
    (folder / "tool.json").write_text(json.dumps(spec), encoding="utf-8")
    (folder / "main.py").write_text("print(1)\n", encoding="utf-8")
    refused = run("tools", "import", str(folder), cwd=tmp_path, home=home)
    assert refused.returncode == 1
    assert "local.fetch: network on; secret TOKEN" in refused.stderr
    assert "--trust" in refused.stderr
    out = run("tools", "import", str(folder), "--trust", cwd=tmp_path, home=home)
    assert out.returncode == 0, out.stderr
    assert "local.fetch v1 (created)" in out.stdout
    listed = run("trust", "--list", cwd=tmp_path, home=home).stdout
    assert "local.fetch" in listed
    assert "network on" in listed


def test_a_reader_that_goes_away_ends_the_listing_quietly(project: Path, home: Path) -> None:
    # `toolkernel tools list | head -0`: the pipe's reader is gone before anything is written.
    reader, writer = os.pipe()
    os.close(reader)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLKERNEL_")}
    argv = [str(TOOLKERNEL), "--home", str(home), "tools", "list"]
    try:
        done = subprocess.run(
            argv,
            cwd=project,
            env=env,
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(writer)
    assert done.stderr == ""
    assert done.returncode == 141  # as a shell reports a program stopped by SIGPIPE
