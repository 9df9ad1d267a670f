"""Export, then import: same tools, same content, same history, in a fresh home."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bundle_support import SCRIPT, TEXT_SCHEMA, factory_at, fill

from toolkernel.bundles import export_tools, import_tools, read_tool_folder
from toolkernel.errors import BundleError, ToolNotFound

pytestmark = pytest.mark.timeout(120)


def snapshot(factory: object) -> dict[str, tuple[str, int]]:
    registry = factory.registry  # type: ignore[attr-defined]
    return {
        v.name: (v.content_hash, len(registry.tool_versions(v.name)))
        for v in registry.registry_tools()
    }


@pytest.mark.parametrize("suffix", ["bundle", "bundle.tar.gz"])
def test_an_exported_bundle_imports_with_the_same_content_and_history(
    tmp_path: Path, suffix: str
) -> None:
    with factory_at(tmp_path / "a") as source:
        fill(source)
        bundle = export_tools(source.registry, ["local", "skills"], tmp_path / suffix, history=True)
        before = snapshot(source)
    with factory_at(tmp_path / "b") as target:
        imported = import_tools(target, bundle)
        assert snapshot(target) == before
        notes = [v.note for v in target.registry.tool_versions("local.noop")]
    assert {tool.name: tool.replayed for tool in imported}["local.noop"] == 2
    assert {tool.status for tool in imported} == {"created"}
    assert notes[1].startswith("imported v2")
    assert "second" in notes[1]
    assert notes[2].startswith("imported from ")


def test_a_folder_bundle_is_plain_files_a_person_can_read(tmp_path: Path) -> None:
    with factory_at(tmp_path / "a") as source:
        fill(source)
        bundle = export_tools(source.registry, "local.words", tmp_path / "out")
    manifest = json.loads((bundle / "toolkernel-bundle.json").read_text())
    assert manifest["format"] == "toolkernel-bundle"
    assert [tool["name"] for tool in manifest["tools"]] == ["local.words"]
    tool_json = json.loads((bundle / "tools/local.words/tool.json").read_text())
    assert tool_json["language"] == "python"
    assert tool_json["input_schema"] == TEXT_SCHEMA
    assert (bundle / "tools/local.words/main.py").read_text() == SCRIPT
    assert read_tool_folder(bundle / "tools/local.words").kwargs["source"] == {"main.py": SCRIPT}


def test_exporting_an_unknown_name_or_into_a_full_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with factory_at(tmp_path / "a") as source:
        fill(source)
        with pytest.raises(ToolNotFound, match="no such tool or namespace"):
            export_tools(source.registry, "local.nope", tmp_path / "out")
        with pytest.raises(BundleError, match="not an empty folder"):
            export_tools(source.registry, "local", tmp_path / "full")


def test_a_colliding_import_writes_nothing_unless_overwrite(tmp_path: Path) -> None:
    with factory_at(tmp_path / "a") as source:
        fill(source)
        bundle = export_tools(source.registry, "local", tmp_path / "bundle")
    words = bundle / "tools/local.words/main.py"
    with factory_at(tmp_path / "b") as target:
        target.create("local.words", kind="script", language="python", source="print(1)\n")
        before = snapshot(target)
        with pytest.raises(BundleError, match=r"local\.words already exists.*overwrite=True"):
            import_tools(target, bundle)
        assert snapshot(target) == before, "a refused import must write nothing"
        imported = {t.name: t for t in import_tools(target, bundle, overwrite=True)}
        assert imported["local.words"].status == "updated"
        assert imported["local.words"].version == 2
        words.write_text(words.read_text())  # same content: no new version
        again = {t.name: t for t in import_tools(target, bundle, overwrite=True)}
        assert again["local.words"].status == "unchanged"


def test_a_namespace_rehomes_every_tool_but_skills(tmp_path: Path) -> None:
    with factory_at(tmp_path / "a") as source:
        fill(source)
        bundle = export_tools(source.registry, ["local.words", "skills"], tmp_path / "bundle")
    with factory_at(tmp_path / "b") as target:
        names = {tool.name for tool in import_tools(target, bundle, namespace="team")}
    assert names == {"team.words", "skills.greet", "skills.weekly_review"}
