import multiprocessing
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from toolkernel import RegistryError, ToolSpec
from toolkernel.registry import ToolRegistry


@pytest.fixture
def registry(home: Path) -> Iterator[ToolRegistry]:
    """A registry in the shared `home` fixture's empty toolkernel home."""
    with ToolRegistry(home) as reg:
        yield reg


SAVES_PER_PROCESS = 15


def versioned_tools(source: str, version: int) -> list[ToolSpec]:
    return [
        ToolSpec(source, f"tool_{n}", f"Tool {n} of {source}, version {version}") for n in range(20)
    ]


def save_many(home: str, source: str, barrier: threading.Barrier) -> None:
    """Run in a child process: open the registry, then save catalogs at the same time."""
    barrier.wait(timeout=60)
    with ToolRegistry(Path(home)) as registry:
        for version in range(SAVES_PER_PROCESS):
            assert registry.save_catalog(source, versioned_tools(source, version))
            registry.set_server_status(source, "connected", tool_count=20)
        assert registry.load_catalog(source) == versioned_tools(source, SAVES_PER_PROCESS - 1)


def test_two_registries_on_one_file_see_each_others_writes(home: Path) -> None:
    with ToolRegistry(home) as first, ToolRegistry(home) as second:
        first.save_catalog("fs", versioned_tools("fs", 1))
        second.set_server_status("fs", "connected", tool_count=20)

        assert second.load_catalog("fs") == versioned_tools("fs", 1)
        assert [hit.spec.name for hit in second.search("tool_3")][:1] == ["tool_3"]
        assert first.server_statuses()[0].tool_count == 20
        assert second.save_catalog("fs", versioned_tools("fs", 1)) is False


def test_two_processes_saving_at_once_both_succeed(home: Path) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    workers = [
        context.Process(target=save_many, args=(str(home), source, barrier))
        for source in ("alpha", "beta")
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=90)

    assert [worker.exitcode for worker in workers] == [0, 0]
    with ToolRegistry(home) as registry:
        for source in ("alpha", "beta"):
            assert len(registry.catalog_history(source)) == SAVES_PER_PROCESS
            assert len(registry.list_tools(source)) == 20
        assert [s.name for s in registry.server_statuses()] == ["alpha", "beta"]


def test_registry_made_in_one_thread_works_in_others(registry: ToolRegistry) -> None:
    def save(number: int) -> bool:
        return registry.save_catalog(f"s{number}", versioned_tools(f"s{number}", number))

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(save, range(8)))

    assert results == [True] * 8
    assert len(registry.load_catalogs()) == 8


def test_closed_registry_raises_registry_error(home: Path) -> None:
    registry = ToolRegistry(home)
    registry.close()

    with pytest.raises(RegistryError, match="open a new ToolRegistry"):
        registry.load_catalogs()


def update_tool(home: str, author: str, barrier: threading.Barrier) -> None:
    """Run in a child process: add versions of one shared tool at the same moment."""
    with ToolRegistry(Path(home)) as registry:
        barrier.wait(timeout=60)
        for n in range(SAVES_PER_PROCESS):
            manifest = {"description": f"{author} update {n}"}
            registry.add_version("local.shared", kind="wasm", manifest=manifest, author=author)


def test_two_processes_updating_one_tool_both_get_their_versions(home: Path) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    workers = [
        context.Process(target=update_tool, args=(str(home), author, barrier))
        for author in ("kernel-a", "kernel-b")
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=90)

    assert [worker.exitcode for worker in workers] == [0, 0]
    with ToolRegistry(home) as registry:
        history = registry.tool_versions("local.shared")
        assert [v.version for v in history] == list(range(1, 2 * SAVES_PER_PROCESS + 1))
        for author in ("kernel-a", "kernel-b"):
            mine = [v.manifest["description"] for v in history if v.author == author]
            assert mine == [f"{author} update {n}" for n in range(SAVES_PER_PROCESS)]
        assert registry.list_tools("local")[0].description == history[-1].manifest["description"]
