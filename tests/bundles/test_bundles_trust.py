"""A bundle's tools get the network, host paths or host secrets only once a person approves.

The attack: an imported bundle whose `tool.json` grants itself `policy.network`, host
paths and a host secret, with no question asked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from bundle_support import SCRIPT, TEXT_SCHEMA, WAT_V1, factory_at

from toolkernel.bundles import export_tools, import_tools
from toolkernel.config import TRUST_FILE, TrustStore
from toolkernel.errors import BundleError, TrustRequired

pytestmark = pytest.mark.timeout(120)


def tool_folder(root: Path, name: str, **spec: Any) -> Path:
    """A script tool folder `root/name` whose tool.json holds `spec`."""
    folder = root / name
    folder.mkdir(parents=True)
    tool = {"name": f"local.{name}", "kind": "script", "language": "python"} | spec
    (folder / "tool.json").write_text(json.dumps(tool | {"input_schema": TEXT_SCHEMA}))
    (folder / "main.py").write_text(SCRIPT)
    return folder


@pytest.fixture
def greedy(tmp_path: Path) -> Path:
    """A folder of two tools: `plain` asks for nothing, `fetcher` for everything."""
    shared, out = tmp_path / "shared", tmp_path / "out"
    shared.mkdir()
    out.mkdir()
    root = tmp_path / "bundle"
    tool_folder(root, "plain")
    tool_folder(
        root,
        "fetcher",
        policy={"network": True, "read_only": [str(shared)], "writable": [str(out)]},
        secrets=["API_KEY"],
    )
    return root


def test_a_bundle_granting_network_paths_and_a_secret_is_refused_with_the_listing(
    tmp_path: Path, greedy: Path
) -> None:
    with factory_at(tmp_path / "home") as factory:
        with pytest.raises(TrustRequired) as caught:
            import_tools(factory, greedy)
        assert factory.registry.registry_tools() == []  # not even the tool that asks nothing
    asked = (
        "network on",
        f"read-only host path {tmp_path / 'shared'}",
        f"writable host path {tmp_path / 'out'}",
        "secret API_KEY (from $TOOLKERNEL_SECRET_API_KEY)",
    )
    assert caught.value.grants == {"local.fetcher": asked}
    message = str(caught.value)
    assert f"local.fetcher: {'; '.join(asked)}" in message
    assert "nothing was imported" in message
    assert "import_tools(source, trust=True)" in message
    assert "toolkernel tools import SOURCE --trust" in message
    assert "local.plain" not in message
    assert isinstance(caught.value, BundleError)


def test_trust_imports_it_and_the_same_tools_are_not_asked_about_again(
    tmp_path: Path, greedy: Path
) -> None:
    home = tmp_path / "home"
    with factory_at(home) as factory:
        imported = import_tools(factory, greedy, trust=True)
        assert sorted(t.name for t in imported) == ["local.fetcher", "local.plain"]
        [version] = factory.registry.tool_versions("local.fetcher")
        assert version.manifest["policy"]["network"] is True
        again = import_tools(factory, greedy, overwrite=True)
        assert {t.status for t in again} == {"unchanged"}
        (greedy / "fetcher" / "main.py").write_text(SCRIPT + "# changed\n")
        with pytest.raises(TrustRequired, match=r"local\.fetcher: network on"):
            import_tools(factory, greedy, overwrite=True)
    [approval] = TrustStore(home).approvals()
    assert approval.kind == "tool"
    assert approval.subject == "local.fetcher"
    assert "network on" in approval.grants
    assert (home / TRUST_FILE).stat().st_mode & 0o777 == 0o600


def test_tools_without_grants_import_as_today(tmp_path: Path) -> None:
    root = tmp_path / "bundle"
    tool_folder(root, "plain", policy={"network": False, "read_only": [], "writable": []})
    with factory_at(tmp_path / "home") as factory:
        [imported] = import_tools(factory, root)
    assert imported.name == "local.plain"
    assert not (tmp_path / "home" / TRUST_FILE).exists()


@pytest.mark.parametrize("network", ["yes", 1, "false"])
def test_any_network_value_but_false_asks(tmp_path: Path, network: object) -> None:
    root = tmp_path / "bundle"
    tool_folder(root, "odd", policy={"network": network})
    with factory_at(tmp_path / "home") as factory, pytest.raises(TrustRequired, match="network"):
        import_tools(factory, root)


def test_a_wasm_mount_of_a_host_folder_asks(tmp_path: Path) -> None:
    folder = tmp_path / "bundle" / "reader"
    folder.mkdir(parents=True)
    mount = {"host": str(tmp_path), "guest": "/data", "writable": True}
    spec = {"name": "local.reader", "language": "wat", "policy": {"mounts": [mount]}}
    (folder / "tool.json").write_text(json.dumps(spec))
    (folder / "main.wat").write_text(WAT_V1)
    with factory_at(tmp_path / "home") as factory:
        with pytest.raises(TrustRequired) as caught:
            import_tools(factory, folder)
        assert caught.value.grants == {"local.reader": (f"writable host dir {tmp_path} as /data",)}
        [imported] = import_tools(factory, folder, trust=True)
    assert imported.name == "local.reader"


def test_an_old_version_with_grants_in_a_bundles_history_asks_too(tmp_path: Path) -> None:
    # A rollback would make the old version current, grants and all.
    with factory_at(tmp_path / "a") as factory:
        for policy in ({"network": True}, {"network": False}):
            factory.create(
                "local.quiet",
                kind="script",
                language="python",
                source=SCRIPT,
                input_schema=TEXT_SCHEMA,
                policy=policy,
            )
        bundle = export_tools(factory.registry, "local", tmp_path / "b.tar.gz", history=True)
    with factory_at(tmp_path / "b") as factory:
        with pytest.raises(TrustRequired) as caught:
            import_tools(factory, bundle)
        assert caught.value.grants == {"local.quiet (history v1)": ("network on",)}
        [imported] = import_tools(factory, bundle, history=False)  # the current asks nothing
        assert imported.replayed == 0


@pytest.mark.timeout(180)
def test_the_kernels_import_tools_refuses_then_imports_with_trust(
    kernel_factory: Any, greedy: Path
) -> None:
    kernel = kernel_factory(None)
    refused = kernel.execute(f"import_tools({str(greedy)!r})", allow_error=True)
    assert refused.error is not None
    assert refused.error["ename"] == "TrustRequired"
    assert "local.fetcher: network on" in refused.traceback
    assert kernel.value("list_tool_names()") == []
    names = kernel.value(f"[t.name for t in import_tools({str(greedy)!r}, trust=True)]")
    assert sorted(names) == ["local.fetcher", "local.plain"]
