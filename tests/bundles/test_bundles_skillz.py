"""Skillz tool folders as Skillz writes them (manifest.json, versions/ backups), and atomic imports.

Each folder below is laid out as Skillz's registry writes it: `manifest.json` with
`tool_type`, `<name>.wasm` (and `src.rs`) for a WASM tool, `entry_file` for a script,
`pipeline_steps` for a pipeline, `mcp_server` for an MCP server, and `versions/<semver>/`
holding the backup Skillz makes of the version an update replaced.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import wasmtime
from bundle_support import SKILL_MD, WAT_V1, call, factory_at

from tk_support import python_server
from toolkernel.bindings import to_python
from toolkernel.bundles import export_tools, import_tools
from toolkernel.bundles._skillz import read_skillz_folder
from toolkernel.config import TrustStore
from toolkernel.errors import BundleError, RegistryError, ToolBuildError, TrustRequired

pytestmark = pytest.mark.timeout(180)

SCRIPTS = Path(__file__).parents[1] / "script_sources"


def printing(text: str) -> bytes:
    """A WASI command that prints `text` (plain text, not JSON) and ignores stdin."""
    data = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return bytes(
        wasmtime.wat2wasm(
            f"""(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "{data}")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const {len(text.encode())}))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"""
        )
    )


def skillz_tool(root: Path, name: str, files: dict[str, str | bytes], **manifest: Any) -> Path:
    """A Skillz tool folder: `manifest.json` (as Skillz's ToolManifest writes it) and `files`."""
    folder = root / name
    folder.mkdir(parents=True)
    document = {
        "name": name,
        "version": "1.0.0",
        "description": f"{name}, made by Skillz",
        "input_schema": {"type": "object", "properties": {}},
        "created_at": "2025-11-20T10:00:00Z",
        "updated_at": "2025-11-20T10:00:00Z",
        **manifest,
    }
    (folder / "manifest.json").write_text(json.dumps(document, indent=2))
    for path, data in files.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            target.write_bytes(data)
        else:
            target.write_text(data)
    return folder


def updated_wasm_tool(root: Path) -> Path:
    """`shout` at 1.0.1, with Skillz's backup of 1.0.0 in versions/1.0.0/."""
    old = printing("old\n")
    return skillz_tool(
        root,
        "shout",
        {
            "shout.wasm": printing("hello world\n"),
            "src.rs": 'fn main() { println!("hello world"); }\n',
            "versions/1.0.0/manifest.json": json.dumps({"name": "shout", "tool_type": "wasm"}),
            "versions/1.0.0/shout.wasm": old,
            "versions/1.0.0/src.rs": 'fn main() { println!("old"); }\n',
        },
        version="1.0.1",
        tool_type="wasm",
        wasm_dependencies=["serde@1.0"],
    )


def test_a_skillz_wasm_tool_with_a_versions_backup_imports_and_returns_its_text(
    tmp_path: Path,
) -> None:
    folder = updated_wasm_tool(tmp_path)
    module = (folder / "shout.wasm").read_bytes()
    module.decode("utf-8")  # this module happens to be valid UTF-8: still a module
    with factory_at(tmp_path / "home") as factory:
        [imported] = import_tools(factory, folder)
        result = call(factory, "local.shout", {})
        version = factory.registry.tool_version("local.shout")
        stored = factory.registry.get_blob(version.manifest["artifact"])
    assert imported.name == "local.shout"
    assert stored == module  # the top-level module, not the backup
    assert version.manifest["output"] == "text"
    assert to_python(result) == "hello world\n"  # stdout as a string, as Skillz gives it


def test_a_json_wasm_tool_still_refuses_plain_text(tmp_path: Path) -> None:
    with factory_at(tmp_path / "home") as factory:
        factory.create("local.plain", kind="wasm", language="wasm", source=printing("hi\n"))
        assert "output" not in factory.registry.tool_version("local.plain").manifest
        with pytest.raises(Exception, match="not one JSON value"):
            call(factory, "local.plain", {})
        with pytest.raises(RegistryError, match=r"'json'.*'text'"):
            factory.create("local.bad", kind="wasm", language="wat", source=WAT_V1, output="xml")


def test_a_skillz_script_runs_its_entry_file_beside_a_helper_module(tmp_path: Path) -> None:
    main = (
        "import json, sys\n"
        "from helper import count\n"
        "request = json.loads(sys.stdin.readline())\n"
        'text = request["params"]["arguments"]["text"]\n'
        'print(json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": count(text)}))\n'
    )
    folder = skillz_tool(
        tmp_path,
        "counter",
        {
            "main.py": main,
            "helper.py": "def count(text):\n    return len(text.split())\n",
            "versions/1.0.0/manifest.json": json.dumps({"name": "counter"}),
            "versions/1.0.0/main.py": "raise SystemExit('the old version')\n",
        },
        tool_type="script",
        interpreter="python3",
        entry_file="main.py",
        version="1.0.1",
    )
    with factory_at(tmp_path / "home") as factory:
        import_tools(factory, folder)
        result = call(factory, "local.counter", {"text": "a b c d"})
        version = factory.registry.tool_version("local.counter")
    assert result.structured == 4
    assert version.manifest["entry"] == "main.py"
    assert sorted(version.manifest["source"]) == ["helper.py", "main.py"]
    # It speaks Skillz's shapes (`{"output": ...}` replies to its own tool calls).
    assert version.manifest["protocol"] == "skillz"


def test_skillz_pipeline_steps_map_to_steps_with_references(tmp_path: Path) -> None:
    folder = skillz_tool(
        tmp_path,
        "report",
        {},
        tool_type="pipeline",
        pipeline_steps=[
            {"name": "count-words", "tool": "word_counter", "args": {"text": "$input.text"}},
            {
                "tool": "word-counter",
                "args": {
                    "text": "$prev.tool",
                    "n": "$count-words.count",
                    "first": "$input.rows.0",
                    "price": "$5",
                },
                "continue_on_error": True,
                "condition": "$prev.count != 0",
            },
            {"tool": "local.other", "args": {}, "condition": "$input.mode == fast"},
        ],
    )
    found = read_skillz_folder(folder)
    assert found.name == "local.report"
    assert found.kwargs["steps"] == [
        {"id": "count_words", "tool": "local.word_counter", "args": {"text": "${input.text}"}},
        {
            "id": "step_2",
            "tool": "local.word_counter",
            "args": {
                "text": "${prev.tool}",
                "n": "${steps.count_words.result.count}",
                "first": "${input.rows['0']}",
                "price": "$5",
            },
            "when": "${prev.count} != 0",
            "continue_on_error": True,
        },
        {"id": "step_3", "tool": "local.other", "args": {}, "when": '${input.mode} == "fast"'},
    ]


def test_a_skillz_pipeline_imports_with_its_tools_and_runs(tmp_path: Path) -> None:
    skillz = tmp_path / "skillz"
    shutil.copytree(SCRIPTS, skillz / "word_counter", ignore=lambda *_: ["__pycache__"])
    for extra in (skillz / "word_counter").iterdir():
        if extra.name != "skillz_word_count.py":
            extra.unlink()
    (skillz / "word_counter" / "skillz_word_count.py").rename(
        skillz / "word_counter" / "word_counter.py"
    )
    manifest = {"name": "word_counter", "tool_type": "script", "interpreter": "python3"}
    (skillz / "word_counter" / "manifest.json").write_text(json.dumps(manifest))
    skillz_tool(
        skillz,
        "count_twice",
        {},
        tool_type="pipeline",
        pipeline_steps=[
            {"name": "first", "tool": "word_counter", "args": {"text": "$input.text"}},
            {
                "tool": "word_counter",
                "args": {"text": "$input.text"},
                "condition": "$first.count == 3",
            },
        ],
    )
    with factory_at(tmp_path / "home") as factory:
        imported = import_tools(factory, skillz, namespace="team")
        result = call(factory, "team.count_twice", {"text": "one two three"})
        steps = factory.registry.tool_version("team.count_twice").manifest["steps"]
    assert [t.name for t in imported] == ["team.word_counter", "team.count_twice"]
    assert {step["tool"] for step in steps} == {"team.word_counter"}  # moved with it
    assert result.structured == {"count": 3, "tool": "team.word_counter"}


def test_a_skillz_mcp_entry_becomes_a_home_mcp_json_server_once_a_person_trusts_it(
    tmp_path: Path,
) -> None:
    folder = skillz_tool(
        tmp_path,
        "memo",
        {},
        tool_type="mcp",
        mcp_server={"command": "npx", "args": ["-y", "memo-server"], "env": {"MODE": "x"}},
    )
    home = tmp_path / "home"
    with factory_at(home) as factory:
        with pytest.raises(TrustRequired, match="npx -y memo-server") as refused:
            import_tools(factory, folder)
        assert not (home / "mcp.json").exists()
        assert "environment variable MODE" in str(refused.value)
        [imported] = import_tools(factory, folder, trust=True)
        again = import_tools(factory, folder)  # approved: no question, nothing changes
    servers = json.loads((home / "mcp.json").read_text())["mcpServers"]
    assert servers == {
        "memo": {"command": "npx", "args": ["-y", "memo-server"], "env": {"MODE": "x"}}
    }
    assert (imported.kind, imported.status) == ("mcp", "created")
    assert again[0].status == "unchanged"


def test_a_skillz_mcp_entry_is_checked_like_any_mcp_json_entry(tmp_path: Path) -> None:
    folder = skillz_tool(tmp_path, "local", {}, tool_type="mcp", mcp_server={"command": "x"})
    home = tmp_path / "home"
    with factory_at(home) as factory, pytest.raises(Exception, match="namespace"):
        import_tools(factory, folder, trust=True)
    assert not (home / "mcp.json").exists()
    assert TrustStore(home).approvals() == []


def test_an_import_that_fails_halfway_leaves_nothing_behind(tmp_path: Path) -> None:
    skillz = tmp_path / "skillz"
    updated_wasm_tool(skillz)  # imported first: fine
    skillz_tool(
        skillz,
        "memo",
        {},
        tool_type="mcp",
        mcp_server={"command": "npx", "args": ["memo-server"]},
    )
    broken = skillz / "zz_broken"
    broken.mkdir()
    (broken / "tool.json").write_text(json.dumps({"kind": "wasm", "language": "wat"}))
    (broken / "main.wat").write_text('(module (func (export "_start") (unknown_instr)))')
    home = tmp_path / "home"
    with factory_at(home) as factory:
        factory.create("local.keep", kind="wasm", language="wat", source=WAT_V1)
        with pytest.raises(ToolBuildError) as failed:
            import_tools(factory, skillz, trust=True)
        listed = [v.name for v in factory.registry.registry_tools(include_deleted=True)]
        assert listed == ["local.keep"]
        assert factory.registry.namespaces() == ["local"]
    assert "nothing was imported" in "\n".join(failed.value.__notes__)
    assert not (home / "mcp.json").exists()
    assert TrustStore(home).approvals() == []


def test_an_import_over_existing_tools_that_fails_keeps_their_versions(tmp_path: Path) -> None:
    skillz = tmp_path / "skillz"
    updated_wasm_tool(skillz)
    skillz_tool(skillz, "zz_pipe", {}, tool_type="pipeline", pipeline_steps=[{"tool": "nope"}])
    mcp_json = tmp_path / "home" / "mcp.json"
    mcp_json.parent.mkdir()
    mcp_json.write_text(json.dumps({"mcpServers": {"kept": {"command": "true"}}}))
    with factory_at(tmp_path / "home") as factory:
        factory.create("local.shout", kind="wasm", language="wat", source=WAT_V1)
        with pytest.raises(RegistryError, match=r"unknown tool 'local\.nope'"):
            import_tools(factory, skillz, overwrite=True)
        versions = factory.registry.tool_versions("local.shout")
    assert [v.version for v in versions] == [1]
    assert json.loads(mcp_json.read_text()) == {"mcpServers": {"kept": {"command": "true"}}}


def test_a_skill_collision_does_not_suggest_a_namespace(tmp_path: Path) -> None:
    folder = tmp_path / "weekly-review"
    folder.mkdir()
    (folder / "SKILL.md").write_text(SKILL_MD)
    with factory_at(tmp_path / "home") as factory:
        import_tools(factory, folder)
        with pytest.raises(BundleError) as refused:
            import_tools(factory, folder, namespace="team")
    message = str(refused.value)
    assert "skills.weekly_review already exists" in message
    assert "namespace='...'" not in message
    assert "Skills stay in the 'skills' namespace" in message


GREET_STEPS = [{"name": "say", "tool": "echo.echo", "args": {"text": "$input.who"}}]
WHO = {"type": "object", "properties": {"who": {"type": "string"}}, "required": ["who"]}


def test_a_fresh_kernel_imports_a_pipeline_whose_server_is_still_connecting(
    kernel_factory: Any, tmp_path: Path
) -> None:
    folder = skillz_tool(
        tmp_path / "skillz",
        "greet",
        {},
        tool_type="pipeline",
        pipeline_steps=GREET_STEPS,
        input_schema=WHO,
    )
    kernel = kernel_factory({"echo": python_server("echo_server.py")})
    # The first cell: the echo server is still starting, as create_tool would find it.
    names = kernel.value(f"[t.name for t in import_tools({str(folder)!r})]")
    assert names == ["local.greet"]
    assert kernel.value("await tools.local.greet(who='ada')") == "ada"


def test_a_kernel_runs_the_mcp_server_a_skillz_folder_brings(
    kernel_factory: Any, tmp_path: Path
) -> None:
    entry = python_server("echo_server.py")
    folder = skillz_tool(tmp_path / "skillz", "echo-two", {}, tool_type="mcp", mcp_server=entry)
    kernel = kernel_factory({})
    kinds = kernel.value(f"[t.kind for t in import_tools({str(folder)!r}, trust=True)]")
    assert kinds == ["mcp"]
    kernel.execute("await wait_for_servers(30)")
    assert kernel.value("await tools.echo_two.echo(text='hi')") == "hi"


def test_the_cli_imports_a_skillz_server_and_says_where_it_went(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from toolkernel.cli import main

    folder = skillz_tool(tmp_path, "memo", {}, tool_type="mcp", mcp_server={"command": "memo"})
    home = tmp_path / "home"
    assert main(["--home", str(home), "tools", "import", str(folder), "--trust"]) == 0
    out = capsys.readouterr().out
    assert out.strip() == f"memo: MCP server in {home / 'mcp.json'} (created)"
    assert json.loads((home / "mcp.json").read_text())["mcpServers"]["memo"]["command"] == "memo"


def test_a_prebuilt_module_that_is_valid_utf8_imports_from_a_tool_folder(tmp_path: Path) -> None:
    folder = tmp_path / "seven"
    folder.mkdir()
    (folder / "tool.json").write_text(json.dumps({"kind": "wasm", "language": "wasm"}))
    (folder / "seven.wasm").write_bytes(printing("7"))
    (folder / "seven.wasm").read_bytes().decode("utf-8")
    with factory_at(tmp_path / "home") as factory:
        import_tools(factory, folder)
        assert call(factory, "local.seven", {}).structured == 7


def test_a_text_tool_keeps_its_output_mode_through_export_and_import(tmp_path: Path) -> None:
    with factory_at(tmp_path / "a") as source:
        import_tools(source, updated_wasm_tool(tmp_path / "skillz"))
        bundle = export_tools(source.registry, "local.shout", tmp_path / "bundle")
    with factory_at(tmp_path / "b") as target:
        import_tools(target, bundle)
        assert to_python(call(target, "local.shout", {})) == "hello world\n"
