"""A bundle carries the exact dependency versions of its script tools; an import installs them.

A package index made by the test serves a tiny package; a newer version appears between
the export and the import.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from bundle_support import call, factory_at

from local_index import LocalIndex
from tk_support import TESTS
from toolkernel.bundles import export_tools, import_tools
from toolkernel.cli import main

pytestmark = pytest.mark.timeout(300)

PROBE = "tk-pin-probe"
SOURCES = TESTS / "script_sources"
KINDS = {
    # language: (the field naming its dependencies, its source, version 1, version 2, pin)
    "python": ("requirements", "uses_pin_probe.py", "1.0", "2.0", "=="),
    "node": ("packages", "uses_pin_probe.js", "1.0.0", "2.0.0", "@"),
}


@pytest.mark.parametrize(
    "language",
    [
        "python",
        pytest.param(
            "node", marks=pytest.mark.skipif(shutil.which("npm") is None, reason="no npm")
        ),
    ],
)
def test_an_imported_tool_installs_the_versions_its_bundle_recorded(
    language: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    field, source_file, old, new, sep = KINDS[language]
    source = (SOURCES / source_file).read_text(encoding="utf-8")
    tool = {"kind": "script", "language": language, "source": source, field: [PROBE]}
    with LocalIndex(tmp_path / "index") as index:
        monkeypatch.setenv("PIP_INDEX_URL", index.pip_url)
        monkeypatch.setenv("NPM_CONFIG_REGISTRY", index.npm_url)
        publish = index.add_wheel if language == "python" else index.add_npm
        publish(PROBE, old)
        with factory_at(tmp_path / "a") as origin:
            made = origin.create("local.probe", **tool)
            assert made.dependencies == [f"{PROBE}{sep}{old}"]
            assert origin.create("local.probe", **tool).version == 1  # the same again
            bundle = export_tools(origin.registry, "local.probe", tmp_path / "bundle")
        tool_json = json.loads((bundle / "tools/local.probe/tool.json").read_text())
        assert tool_json[field] == [PROBE]
        assert tool_json["resolved"] == [f"{PROBE}{sep}{old}"]

        publish(PROBE, new)
        with factory_at(tmp_path / "b") as target:
            import_tools(target, bundle)
            imported = target.registry.tool_version("local.probe")
            assert imported.dependencies == [f"{PROBE}{sep}{old}"]
            assert imported.content_hash == made.content_hash
            assert call(target, "local.probe", {}).structured == {"version": old}
            fresh = target.create("local.fresh", **tool)  # no pins: what the index serves
            assert fresh.dependencies == [f"{PROBE}{sep}{new}"]
            assert call(target, "local.fresh", {}).structured == {"version": new}

    assert main(["--home", str(tmp_path / "b"), "tools", "versions", "local.probe"]) == 0
    assert f"installs {PROBE}{sep}{old}" in capsys.readouterr().out
