from __future__ import annotations

import asyncio
import importlib.util
import inspect
import traceback
from pathlib import Path

from bindings_support import RecordingCaller, obj, tool

from toolkernel import ToolSpec
from toolkernel.bindings import BindingCache, generate_module

SPECS = [tool("echo", source="my-server", input_schema=obj({"text": {"type": "string"}}, ["text"]))]
CHANGED = [*SPECS, tool("ping", source="my-server")]


def py_files(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.glob("*.py"))


def test_cache_file_is_named_by_source_and_key_and_module_by_source(tmp_path: Path) -> None:
    cache = BindingCache(tmp_path)
    module = cache.load("my-server", SPECS)
    path = cache.path_for("my-server", SPECS)
    assert path.parent == tmp_path
    assert path.name.startswith("my_server_")
    assert len(path.stem.removeprefix("my_server_")) == 16
    assert module.__name__ == "tools.my_server"
    assert module.__file__ == str(path)
    assert path.read_text(encoding="utf-8") == generate_module("my-server", SPECS).source_code


def test_warm_load_reuses_the_file_without_rewriting_it(tmp_path: Path) -> None:
    cache = BindingCache(tmp_path)
    cache.load("my-server", SPECS)
    path = cache.path_for("my-server", SPECS)
    before = path.stat()
    module = BindingCache(tmp_path).load("my-server", SPECS)
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert hasattr(module, "echo")


def test_changed_catalog_writes_a_new_file_and_prunes_the_old_one(tmp_path: Path) -> None:
    cache = BindingCache(tmp_path)
    cache.load("my-server", SPECS)
    old = cache.path_for("my-server", SPECS)
    module = cache.load("my-server", CHANGED)
    new = cache.path_for("my-server", CHANGED)
    assert new != old
    assert py_files(tmp_path) == [new.name]
    assert hasattr(module, "ping")


def test_pruning_leaves_other_sources_files_alone(tmp_path: Path) -> None:
    cache = BindingCache(tmp_path)
    cache.load("my-server", SPECS)
    cache.load("my-server", SPECS, name="my_server_2")
    kept = cache.path_for("my-server", SPECS, name="my_server_2")
    cache.load("my-server", CHANGED)
    assert kept.name in py_files(tmp_path)
    assert len(py_files(tmp_path)) == 2


def test_bytecode_is_cached_in_pycache(tmp_path: Path) -> None:
    cache = BindingCache(tmp_path)
    cache.load("my-server", SPECS)
    path = cache.path_for("my-server", SPECS)
    assert Path(importlib.util.cache_from_source(str(path))).is_file()


def test_getsource_and_tracebacks_show_the_generated_file(tmp_path: Path) -> None:
    module = BindingCache(tmp_path).load("my-server", SPECS)
    assert "async def echo(*, text: str) -> Any:" in inspect.getsource(module)
    try:
        asyncio.run(module.echo(text="no caller installed"))
    except Exception as exc:  # the traceback is what is checked
        frames = traceback.extract_tb(exc.__traceback__)
    generated = [frame for frame in frames if frame.filename == module.__file__]
    assert generated
    assert generated[0].line == "return await _call('my-server', 'echo', {'text': text})"


def test_damaged_cache_file_is_regenerated(tmp_path: Path, caller: RecordingCaller) -> None:
    cache = BindingCache(tmp_path)
    cache.load("my-server", SPECS)
    path = cache.path_for("my-server", SPECS)
    path.write_text("this is not python (", encoding="utf-8")
    module = BindingCache(tmp_path).load("my-server", SPECS)
    asyncio.run(module.echo(text="x"))
    assert caller.calls == [("my-server", "echo", {"text": "x"})]
    assert path.read_text(encoding="utf-8").startswith("# DO NOT EDIT")


def test_unwritable_cache_directory_falls_back_to_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache directory should be", encoding="utf-8")
    module = BindingCache(blocker / "bindings").load("my-server", SPECS)
    assert module.__name__ == "tools.my_server"
    assert "async def echo" in inspect.getsource(module.echo)


def test_no_temporary_files_are_left_behind(tmp_path: Path) -> None:
    cache = BindingCache(tmp_path)
    cache.load("my-server", SPECS)
    cache.load("my-server", CHANGED)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_package_name_sets_the_module_name(tmp_path: Path) -> None:
    module = BindingCache(tmp_path).load("my-server", SPECS, package="other_tools")
    assert module.__name__ == "other_tools.my_server"


def test_file_name_stays_short_for_a_very_long_source_name(tmp_path: Path) -> None:
    source = "s" * 1000
    specs: list[ToolSpec] = [tool("t", source=source)]
    module = BindingCache(tmp_path).load(source, specs)
    assert module.__toolkernel_source__ == source
    assert len(Path(module.__file__ or "").name) < 100
