"""WASM tools made at run time in a real kernel: built, versioned, called, and contained."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crate_support import local_registry, tkgreet, tool_files
from tk_support import TESTS, python_server, start_kernel

pytestmark = pytest.mark.timeout(300)

SOURCES = TESTS / "wasm_sources"
PATH_SCHEMA = {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}
PRIMES_SCHEMA = {
    "type": "object",
    "properties": {"limit": {"type": "integer", "description": "Largest number to test."}},
    "required": ["limit"],
}


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    base = tmp_path_factory.mktemp("wasm-kernel")
    driver = start_kernel(base, {"echo": python_server("echo_server.py")})
    driver.execute("await wait_for_servers(30)")
    yield driver
    driver.shutdown()


def toolchain_cargo() -> Path:
    """The cargo of the Rust toolchain builds use, or a skip saying what to install."""
    from toolkernel_sandbox import ToolchainMissing
    from toolkernel_sandbox.build import find_toolchain

    try:
        compiler = find_toolchain("rust").compiler
    except ToolchainMissing as exc:
        pytest.skip(f"no rust toolchain here: {exc.install}")
    assert compiler is not None
    return compiler


def create(kernel: Any, name: str, source_file: str, *, comment: str = "", **options: Any) -> Any:
    """Create a tool from tests/wasm_sources/<source_file>; return the cell's outcome.

    A `comment` line is appended to a C source, which makes it a new build.
    """
    language = {"c": "c", "rs": "rust", "zig": "zig", "wat": "wat"}[source_file.split(".")[1]]
    source = (SOURCES / source_file).read_text(encoding="utf-8")
    if comment:
        source += f"/* {comment} */\n"
    call = (
        f"_v = create_tool({name!r}, language={language!r}, source={source!r}, "
        + "".join(f"{key}={value!r}, " for key, value in options.items())
        + ")\nprint(_v.version)"
    )
    return kernel.execute(call, timeout=240, allow_error=True)


def limit_hit(kernel: Any, call: str) -> list[str]:
    """Await `call` in the kernel; return [error class name, its `limit`]."""
    out = kernel.execute(
        f"from toolkernel.errors import ToolError\ntry:\n    await {call}\n"
        "except ToolError as e:\n    print(type(e).__name__, getattr(e, 'limit', None))"
    )
    return list(out.stdout.split())


def test_a_c_tool_is_callable_at_once_with_a_typed_signature(kernel: Any) -> None:
    out = create(
        kernel,
        "primes",
        "primes.c",
        description="Primes up to a limit.",
        input_schema=PRIMES_SCHEMA,
    )
    assert out.error is None, out.traceback
    assert out.stdout.splitlines()[-1] == "1"
    assert kernel.value("await tools.local.primes(limit=20)") == [2, 3, 5, 7, 11, 13, 17, 19]
    signature = kernel.value("str(__import__('inspect').signature(tools.local.primes))")
    assert signature.startswith("(*, limit: int)")
    assert "Primes up to a limit." in kernel.value("tools.local.primes.__doc__")


def test_build_progress_shows_in_the_cell(kernel: Any) -> None:
    out = create(
        kernel, "progress_demo", "primes.c", comment="progress", input_schema=PRIMES_SCHEMA
    )
    assert "local.progress_demo: building from c" in out.stdout
    assert "local.progress_demo: built" in out.stdout


def test_each_change_is_a_new_version_and_the_same_source_is_not(kernel: Any) -> None:
    create(kernel, "versioned", "answer.wat")
    again = create(kernel, "versioned", "answer.wat")
    assert again.stdout.splitlines()[-1] == "1"
    assert "reusing its build" in again.stdout
    changed = create(kernel, "versioned", "answer.wat", description="Now documented.")
    assert changed.stdout.splitlines()[-1] == "2"
    assert kernel.value("await tools.local.versioned()") == {"answer": 42}


def test_the_tool_is_found_by_search_and_details(kernel: Any) -> None:
    create(kernel, "sieve", "primes.c", description="Sieve of Eratosthenes: list primes.")
    names = kernel.value("[r['name'] for r in search_tools('eratosthenes primes sieve')]")
    assert names[0] == "local.sieve"
    details = kernel.value("get_tool_details('local.sieve').to_json()")
    assert details["signature"].startswith("sieve(")


def test_utf8_arguments_round_trip(kernel: Any) -> None:
    create(
        kernel,
        "echo_args",
        "echo.c",
        input_schema={"type": "object", "properties": {"text": {"type": "string"}}},
    )
    text = "naïve café, 日本語, emoji 🚀"
    assert kernel.value(f"await tools.local.echo_args(text={text!r})") == {"text": text}


def test_an_infinite_loop_stops_at_the_time_limit_and_the_kernel_lives(kernel: Any) -> None:
    create(kernel, "spin", "spin.c", limits={"timeout_s": 1.0, "fuel": 10**15})
    started = time.monotonic()
    out = kernel.execute("await tools.local.spin()", allow_error=True)
    assert time.monotonic() - started < 5
    assert out.error is not None
    assert out.error["ename"] == "SandboxTimeout"
    assert "local.spin" in out.error["evalue"]
    assert kernel.value("1 + 1") == 2


def test_an_infinite_loop_stops_when_its_fuel_runs_out(kernel: Any) -> None:
    create(kernel, "spin_fuel", "spin.c", limits={"fuel": 50_000_000})
    assert limit_hit(kernel, "tools.local.spin_fuel()") == ["SandboxLimitExceeded", "fuel"]


def test_a_memory_bomb_is_stopped_by_the_memory_limit(kernel: Any) -> None:
    create(kernel, "membomb", "membomb.c", limits={"memory_bytes": 32 * 2**20})
    assert limit_hit(kernel, "tools.local.membomb()") == ["SandboxLimitExceeded", "memory"]


def test_an_output_flood_is_capped(kernel: Any) -> None:
    create(kernel, "flood", "flood.c", limits={"stdout_bytes": 100_000})
    assert limit_hit(kernel, "tools.local.flood()") == ["SandboxLimitExceeded", "stdout"]


def test_host_files_are_invisible_without_a_grant(kernel: Any) -> None:
    create(kernel, "readfile", "readfile.c", input_schema=PATH_SCHEMA)
    out = kernel.execute("await tools.local.readfile(path='/etc/passwd')", allow_error=True)
    assert out.error is not None
    assert out.error["ename"] == "ToolError"
    assert "cannot open /etc/passwd" in out.error["evalue"]


def test_a_read_only_grant_can_be_read_but_not_written(kernel: Any, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "note.txt").write_text("hello from the host\n", encoding="utf-8")
    policy = {"mounts": [{"host": str(shared), "guest": "/data"}]}
    create(kernel, "read_shared", "readfile.c", input_schema=PATH_SCHEMA, policy=policy)
    create(kernel, "write_shared", "writefile.c", input_schema=PATH_SCHEMA, policy=policy)
    assert kernel.value("await tools.local.read_shared(path='/data/note.txt')") == (
        "hello from the host"
    )
    out = kernel.execute("await tools.local.write_shared(path='/data/new.txt')", allow_error=True)
    assert out.error is not None
    assert not (shared / "new.txt").exists()


def test_a_writable_grant_can_be_written(kernel: Any, tmp_path: Path) -> None:
    shared = tmp_path / "out"
    shared.mkdir()
    policy = {"mounts": [{"host": str(shared), "guest": "/out", "writable": True}]}
    create(kernel, "write_out", "writefile.c", input_schema=PATH_SCHEMA, policy=policy)
    assert kernel.value("await tools.local.write_out(path='/out/result.txt')") is True
    assert (shared / "result.txt").read_text(encoding="utf-8") == "written\n"


def test_bad_json_from_the_tool_is_a_clear_error(kernel: Any) -> None:
    create(kernel, "badjson", "badjson.c")
    out = kernel.execute("await tools.local.badjson()", allow_error=True)
    assert out.error is not None
    assert "which is not one JSON value" in out.error["evalue"]
    assert kernel.value("2 + 2") == 4


def test_a_compile_error_names_the_line_and_registers_nothing(kernel: Any) -> None:
    out = create(kernel, "broken", "broken.c")
    assert out.error is not None
    assert out.error["ename"] == "ToolBuildError"
    assert "undeclared_value" in out.error["evalue"]
    assert "main.c:5" in out.error["evalue"]
    assert kernel.value("hasattr(tools.local, 'broken')") is False


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../etc/passwd", "invalid tool name"),
        ("local.a/b", "invalid tool name"),
        ("echo.mine", "'echo' is a configured MCP server"),
    ],
)
def test_unsafe_names_and_taken_namespaces_are_refused(
    kernel: Any, name: str, message: str
) -> None:
    out = create(kernel, name, "answer.wat")
    assert out.error is not None
    assert out.error["ename"] == "RegistryError"
    assert message in out.error["evalue"]


def test_the_tool_cell_magic_creates_a_tool(kernel: Any) -> None:
    source = (SOURCES / "primes.c").read_text(encoding="utf-8")
    out = kernel.execute(
        f'%%tool magic_primes -l c -d "Primes, from a magic." -p limit:integer\n{source}'
    )
    assert out.error is None
    assert kernel.value("await tools.local.magic_primes(limit=10)") == [2, 3, 5, 7]
    assert kernel.value("get_tool_details('local.magic_primes').signature").startswith(
        "magic_primes(*, limit: int)"
    )


def test_a_bad_tool_magic_line_is_a_usage_error(kernel: Any) -> None:
    out = kernel.execute("%%tool only_a_name\nint main(void) { return 0; }", allow_error=True)
    assert out.status == "error"
    assert "UsageError: the following arguments are required: --language" in out.stderr
    assert kernel.value("hasattr(tools.local, 'only_a_name')") is False


def test_a_rust_tool_builds_with_serde_json(kernel: Any) -> None:
    out = create(kernel, "rust_primes", "primes.rs", input_schema=PRIMES_SCHEMA)
    assert out.error is None, out.traceback
    assert kernel.value("await tools.local.rust_primes(limit=12)") == [2, 3, 5, 7, 11]


def test_a_zig_tool_builds_and_runs(kernel: Any) -> None:
    out = create(kernel, "zig_primes", "primes.zig")
    assert out.error is None, out.traceback
    assert kernel.value("await tools.local.zig_primes()") == [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]


def test_tools_persist_into_a_new_kernel(kernel: Any, tmp_path: Path) -> None:
    create(kernel, "persisted", "answer.wat", description="Survives a restart.")
    home = kernel.value("str(__import__('toolkernel').config.toolkernel_home())")
    from kernel_driver import KernelDriver

    fresh = KernelDriver(home=Path(home), config=None, cwd=tmp_path)
    try:
        assert fresh.value("await tools.local.persisted()") == {"answer": 42}
        assert "Survives a restart." in fresh.value("tools.local.persisted.__doc__")
    finally:
        fresh.shutdown()


def answer_wat(number: int) -> str:
    return (SOURCES / "answer.wat").read_text(encoding="utf-8").replace("42", str(number))


def test_versions_diff_rollback_and_pinned_calls_in_the_kernel(kernel: Any) -> None:
    for number in (11, 12, 13):
        kernel.execute(
            f"create_tool('counted', language='wat', source={answer_wat(number)!r}, "
            f"note='answer {number}')"
        )
    assert kernel.value("[v.note for v in tool_versions('local.counted')]") == [
        "answer 11",
        "answer 12",
        "answer 13",
    ]
    assert kernel.value("await tools.local.counted()") == {"answer": 13}
    assert kernel.value("await tools.local.counted.at(1)()") == {"answer": 11}
    diff = kernel.value("str(diff_tool('local.counted', 1, 3))")
    assert "--- a/main.wat (v1)" in diff
    assert '+  (data (i32.const 16) "{\\"answer\\": 13}\\n")' in diff
    assert kernel.value("rollback_tool('local.counted', 1).version") == 4
    assert kernel.value("await tools.local.counted()") == {"answer": 11}
    assert kernel.value("len(tool_versions('counted'))") == 4
    out = kernel.execute("await tools.local.counted.at(9)()", allow_error=True)
    assert out.error is not None
    assert "has no version 9; available: 1-4" in out.error["evalue"]


def test_a_missing_toolchain_names_the_install_command(tmp_path: Path) -> None:
    driver = start_kernel(tmp_path, {}, extra_arguments=["--ToolKernel.toolchain_path=/nowhere"])
    try:
        out = create(driver, "rusty", "primes.rs")
        assert out.error is not None
        assert out.error["ename"] == "ToolchainMissing"
        assert "rustup target add wasm32-wasip1" in out.error["evalue"]
        assert driver.value("1 + 1") == 2
    finally:
        driver.shutdown()


def test_a_rust_tool_uses_a_crate_from_the_configured_registry(tmp_path: Path) -> None:
    cargo = toolchain_cargo()
    sentinel = tmp_path / "sentinel"
    sentinel.write_text("original")
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        registry = local_registry(
            cargo, tmp_path / "made", {"tkgreet": tkgreet(listener, sentinel)}
        )
        base = tmp_path / "kernel"
        base.mkdir()
        argument = f"--ToolKernel.crate_registry={registry}"
        driver = start_kernel(base, {}, extra_arguments=[argument])
        try:
            out = driver.execute(
                f"create_tool('greeter', language='rust', source={tool_files()!r})",
                timeout=240,
            )
            assert f"fetching crates from {registry}" in out.stdout
            assert driver.value("await tools.local.greeter()") == {
                "greeting": "hello, wasm",
                "build": "phoned=false wrote=false",
            }
        finally:
            driver.shutdown()
        with pytest.raises(BlockingIOError):
            listener.accept()
    assert sentinel.read_text() == "original"


def test_a_rollback_from_the_cli_reaches_the_live_kernel(kernel: Any, tmp_path: Path) -> None:
    import subprocess
    import sys

    for number in (21, 22):
        kernel.execute(f"create_tool('followed', language='wat', source={answer_wat(number)!r})")
    assert kernel.value("await tools.local.followed()") == {"answer": 22}
    home = kernel.value("str(__import__('toolkernel').config.toolkernel_home())")
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "toolkernel"),
            "--home",
            home,
            "tools",
            "rollback",
            "local.followed",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "is now version 3" in done.stdout
    # The kernel notices another process's commit within its poll interval; each check
    # is a full kernel round trip, bounded by the deadline.
    deadline = time.monotonic() + 5
    while kernel.value("await tools.local.followed()") != {"answer": 21}:
        assert time.monotonic() < deadline, "the kernel did not follow the rollback in 5 s"
