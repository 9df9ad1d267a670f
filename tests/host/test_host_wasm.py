"""WASM tools through `ToolHost.call`: short calls on the host loop, long ones on threads.

A warm call is first tried on the host loop within a short slice of its limits; one
that outgrows it (fuel, time, a wait) is given up whole and run again on a worker
thread. Either way each call gets a fresh instance and the tool's own limits, and the
host loop is never held by a long call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crate_support import tool_files
from toolkernel.errors import SandboxLimitExceeded, ToolBuildError
from toolkernel.factory import ToolFactory
from toolkernel.host import ToolHost
from toolkernel.registry import ToolRegistry
from toolkernel_sandbox import ToolchainMissing
from toolkernel_sandbox.build import find_toolchain

_WAIT_S = 30
_WASI = "wasi_snapshot_preview1"
ECHO = (Path(__file__).parents[1] / "wasm_sources" / "echo.wat").read_text("utf-8")


def writes(text: str, *, before: str = "", imports: str = "", params: str = "") -> str:
    """A WAT tool that runs `before`, then writes `text` (JSON) to stdout."""
    data = text.replace('"', '\\"')
    return f"""
(module
  (import "{_WASI}" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  {imports}
  (memory (export "memory") 1)
  (global $calls (mut i32) (i32.const 0))
  (data (i32.const 1024) "{data}")
  (func (export "_start") {params}
    {before}
    (i32.store (i32.const 2048) (i32.const 1024))
    (i32.store (i32.const 2052) (i32.const {len(text.encode())}))
    (drop (call $write (i32.const 1) (i32.const 2048) (i32.const 1) (i32.const 2056)))))
"""


# Counts its calls in a global and in memory, and prints both: [1, 1] from a fresh instance.
COUNTER = writes(
    "[0, 0]",
    before="""
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (i32.store8 (i32.const 0) (i32.add (i32.load8_u (i32.const 0)) (i32.const 1)))
    (i32.store8 (i32.const 1025) (i32.add (i32.const 48) (global.get $calls)))
    (i32.store8 (i32.const 1028) (i32.add (i32.const 48) (i32.load8_u (i32.const 0))))""",
)
# About 40 million units of fuel: twice the slice's.
BUSY = writes(
    '{"loops": 5000000}',
    params="(local $i i32)",
    before="""
    (loop $more
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $more (i32.lt_u (local.get $i) (i32.const 5000000))))""",
)
# Sleeps 0.3 s (a relative monotonic clock subscription), then answers.
SLEEPER = writes(
    '{"slept": true}',
    imports=f'(import "{_WASI}" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))',
    before="""
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (i64.const 300000000))
    (drop (call $poll (i32.const 0) (i32.const 100) (i32.const 1) (i32.const 200)))""",
)
SPIN = '(module (memory (export "memory") 1) (func (export "_start") (loop (br 0))))'


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToolHost]:
    home = tmp_path_factory.mktemp("wasm-host")
    with ToolRegistry(home / "home") as registry:
        factory = ToolFactory(registry, reserved=(), cache_dir=home / "cache")
        tools: dict[str, tuple[str, dict[str, Any]]] = {
            "echo": (ECHO, {}),
            "counter": (COUNTER, {}),
            "busy": (BUSY, {"fuel": 100_000_000}),
            "sleeper": (SLEEPER, {}),
            "starved": (SPIN, {"fuel": 1000}),
            "stopped": (SPIN, {"fuel": 2**62, "timeout_s": 0.1}),
            "chatty": (ECHO, {"stdout_bytes": 8}),
        }
        for name, (source, limits) in tools.items():
            factory.create(name, language="wat", source=source, limits=limits)
        served = ToolHost({}, registry=registry, logs_dir=home / "logs")
        served.start()
        try:
            yield served
        finally:
            served.stop()


def call(host: ToolHost, name: str, arguments: dict[str, Any] | None = None) -> Any:
    # Awaited from this test's own loop: the host hops onto its loop by itself.
    return asyncio.run(asyncio.wait_for(host.call(f"local.{name}", arguments or {}), _WAIT_S))


def test_every_call_gets_a_fresh_instance(host: ToolHost) -> None:
    assert [call(host, "counter").structured for _ in range(20)] == [[1, 1]] * 20


def test_the_text_content_is_the_json_the_tool_printed(host: ToolHost) -> None:
    result = call(host, "echo", {"a": [1, 2], "b": "é"})
    assert result.structured == {"a": [1, 2], "b": "é"}
    assert result.content == [{"type": "text", "text": '{"a": [1, 2], "b": "é"}'}]


def test_a_call_outgrowing_the_slice_still_has_all_its_fuel(host: ToolHost) -> None:
    results = [call(host, "busy").structured for _ in range(3)]
    assert results == [{"loops": 5000000}] * 3


def test_a_sleeping_call_leaves_the_host_loop_to_other_calls(host: ToolHost) -> None:
    call(host, "sleeper")  # loaded, so the next call is first tried on the host loop

    async def scenario() -> tuple[list[Any], bool, Any]:
        sleeping = asyncio.ensure_future(host.call("local.sleeper", {}))
        echoed = [(await host.call("local.echo", {"n": n})).structured for n in range(20)]
        still_sleeping = not sleeping.done()
        return echoed, still_sleeping, (await asyncio.wait_for(sleeping, _WAIT_S)).structured

    echoed, still_sleeping, slept = asyncio.run(scenario())
    assert still_sleeping
    assert echoed == [{"n": n} for n in range(20)]
    assert slept == {"slept": True}


@pytest.mark.parametrize(
    ("tool", "limit"), [("starved", "fuel"), ("stopped", "time"), ("chatty", "stdout")]
)
def test_a_tools_own_limits_stop_it_on_either_path(host: ToolHost, tool: str, limit: str) -> None:
    for _ in range(2):  # the first call of a version, then a warm one
        with pytest.raises(SandboxLimitExceeded) as caught:
            call(host, tool, {"text": "more than eight bytes"})
        assert caught.value.limit == limit


def test_calls_in_parallel_each_get_their_own_answer(host: ToolHost) -> None:
    async def scenario() -> list[Any]:
        calls = (host.call("local.echo", {"n": n}) for n in range(100))
        return await asyncio.wait_for(asyncio.gather(*calls), _WAIT_S)

    done = [result.structured for result in asyncio.run(scenario())]
    assert [d["n"] for d in done] == list(range(100))


def test_fetching_crates_can_be_turned_off(tmp_path: Path) -> None:
    try:
        find_toolchain("rust")
    except ToolchainMissing as exc:
        pytest.skip(f"no rust toolchain here: {exc.install}")
    lines: list[str] = []
    with ToolRegistry(tmp_path / "home") as registry:
        factory = ToolFactory(
            registry, reserved=(), cache_dir=tmp_path / "cache", crate_registry="off"
        )
        with pytest.raises(ToolBuildError, match="tkgreet") as failed:
            factory.create("greeter", language="rust", source=tool_files(), on_line=lines.append)
        assert registry.registry_tools() == []
    assert not any(line.startswith("fetching crates") for line in lines)
    assert "could not fetch" not in str(failed.value)
