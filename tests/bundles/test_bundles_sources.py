"""Where tools come from: git (file://), gist URL forms, Skillz folders, Agent Skills, WASM."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from bundle_support import SKILL_MD, call, factory_at

from toolkernel.bundles import export_tools, git_source, import_tools
from toolkernel.errors import BundleError

pytestmark = pytest.mark.timeout(180)

SCRIPTS = Path(__file__).parents[1] / "script_sources"
C_SOURCE = '#include <stdio.h>\nint main(void) { printf("7"); return 0; }\n'


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def tool_repo(path: Path) -> Path:
    """A real git repository with a tools/ folder: a script tool and an Agent Skill."""
    (path / "tools" / "shout").mkdir(parents=True)
    (path / "tools" / "shout" / "tool.json").write_text(
        json.dumps({"name": "local.shout", "kind": "script", "language": "python"})
    )
    (path / "tools" / "shout" / "main.py").write_text(
        "import json, sys\nr = json.loads(sys.stdin.readline())\n"
        "print(json.dumps({'jsonrpc': '2.0', 'id': r['id'], "
        "'result': r['params']['arguments']['text'].upper()}))\n"
    )
    (path / "tools" / "weekly-review").mkdir()
    (path / "tools" / "weekly-review" / "SKILL.md").write_text(SKILL_MD)
    git("init", "--quiet", "--initial-branch=main", cwd=path)
    git("add", ".", cwd=path)
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "tools", cwd=path)
    path.chmod(0o755)
    return path


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_tools_import_from_a_git_repository_cloned_in_the_sandbox(tmp_path: Path) -> None:
    repo = tool_repo(tmp_path / "repo")
    with factory_at(tmp_path / "home") as factory:
        imported = import_tools(factory, f"file://{repo}#main")
        assert sorted(tool.name for tool in imported) == ["local.shout", "skills.weekly_review"]
        assert call(factory, "local.shout", {"text": "hi"}).structured == "HI"
        origin = {tool.name: tool.origin for tool in imported}["local.shout"]
    assert origin == f"file://{repo}#main#tools/shout"


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_failed_clone_says_what_git_said(tmp_path: Path) -> None:
    (tmp_path / "not-a-repo").mkdir(mode=0o755)
    with factory_at(tmp_path / "home") as factory:
        with pytest.raises(BundleError, match=r"there is no repository at .*/missing\.git"):
            import_tools(factory, f"file://{tmp_path}/missing.git")
        with pytest.raises(BundleError, match=r"failed \(exit 128\): fatal: .*repository"):
            import_tools(factory, f"file://{tmp_path}/not-a-repo")
        assert factory.registry.registry_tools() == []


@pytest.mark.parametrize(
    ("text", "url", "branch"),
    [
        ("https://gist.github.com/ada/0a1b2c3d", "https://gist.github.com/0a1b2c3d.git", None),
        ("https://gist.github.com/0a1b2c3d.git", "https://gist.github.com/0a1b2c3d.git", None),
        ("gist:0a1b2c3d", "https://gist.github.com/0a1b2c3d.git", None),
        ("https://github.com/ada/tools#v2", "https://github.com/ada/tools", "v2"),
        ("git+https://example.org/tools.git", "https://example.org/tools.git", None),
        ("git@github.com:ada/tools.git", "git@github.com:ada/tools.git", None),
        ("file:///srv/tools", "file:///srv/tools", None),
    ],
)
def test_git_and_gist_url_forms_are_recognised(text: str, url: str, branch: str | None) -> None:
    found = git_source(text)
    assert found is not None
    assert (found.url, found.branch) == (url, branch)


@pytest.mark.parametrize("text", ["https://example.org/page", "./tools", "tools.tar.gz"])
def test_other_sources_are_not_taken_for_git(text: str) -> None:
    assert git_source(text) is None


def test_a_skillz_tool_folder_imports_and_runs_unchanged(tmp_path: Path) -> None:
    folder = tmp_path / "word_counter"
    folder.mkdir()
    shutil.copy(SCRIPTS / "skillz_word_count.py", folder / "word_counter.py")
    (folder / "manifest.json").write_text(
        json.dumps(
            {
                "name": "word_counter",
                "version": "1.0.0",
                "description": "Counts words in text",
                "tool_type": "script",
                "interpreter": "python3",
                "input_schema": {"type": "object", "properties": {"text": {"type": "string"}}},
                "annotations": {"readOnlyHint": True},
            }
        )
    )
    (folder / "env").mkdir()  # the venv Skillz made: not imported
    (folder / "env" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    with factory_at(tmp_path / "home") as factory:
        [imported] = import_tools(factory, folder)
        assert imported.name == "local.word_counter"
        result = call(factory, "local.word_counter", {"text": "one two three"})
        version = factory.registry.tool_version("local.word_counter")
    assert result.structured == {"count": 3, "tool": "local.word_counter"}
    assert sorted(version.manifest["source"]) == ["word_counter.py"]
    assert version.manifest["annotations"] == {"readOnlyHint": True}


@pytest.mark.skipif(shutil.which("clang-14") is None, reason="clang-14 is not installed")
def test_a_wasm_tool_falls_back_to_its_built_module_where_the_compiler_is_missing(
    tmp_path: Path,
) -> None:
    with factory_at(tmp_path / "a") as source:
        source.create("local.seven", kind="wasm", language="c", source=C_SOURCE)
        bundle = export_tools(source.registry, "local.seven", tmp_path / "bundle")
    assert (bundle / "tools/local.seven/build/module.wasm").is_file()
    with factory_at(tmp_path / "b") as target:
        target._toolchain_path = str(tmp_path / "no-compilers-here")
        [imported] = import_tools(target, bundle)
        version = target.registry.tool_version("local.seven")
        assert call(target, "local.seven", {}).structured == 7
    assert version.manifest["language"] == "wasm"
    assert "no c compiler here" in version.note
    assert imported.status == "created"
