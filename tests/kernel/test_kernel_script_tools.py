"""Script tools in a real kernel: each language, each callback, workers, deps, escapes."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tk_support import TESTS, local_web_server, python_server, start_kernel

pytestmark = pytest.mark.timeout(300)

SOURCES = TESTS / "script_sources"
ANY_ARGS = {"type": "object", "additionalProperties": True}
SECRET = "s3cr3t-value-0042"  # noqa: S105 - a test value


@pytest.fixture(scope="module", params=["bwrap", "firejail"])
def kernel(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    base = tmp_path_factory.mktemp(f"script-kernel-{request.param}")
    driver = start_kernel(
        base,
        {"echo": python_server("echo_server.py")},
        extra_env={
            "TOOLKERNEL_SECRET_API_TOKEN": SECRET,
            "TOOLKERNEL_TEST_LEAK": "host-only-value",
        },
        extra_arguments=[f"--ToolKernel.sandbox_backend={request.param}"],
    )
    driver.execute("await wait_for_servers(30)")
    create(driver, "probe", "probe.py", secrets=["API_TOKEN"])
    yield driver
    driver.shutdown()


def create(kernel: Any, name: str, source_file: str, **options: Any) -> Any:
    """Create a script tool from tests/script_sources/<source_file>; fail on error."""
    language = {"py": "python", "js": "node", "rb": "ruby", "sh": "bash"}[
        source_file.rsplit(".", 1)[1]
    ]
    source = (SOURCES / source_file).read_text(encoding="utf-8")
    options.setdefault("input_schema", ANY_ARGS)
    call = (
        f"_v = create_tool({name!r}, kind='script', language={language!r}, source={source!r}, "
        + "".join(f"{key}={value!r}, " for key, value in options.items())
        + ")"
    )
    return kernel.execute(call, timeout=280)


def probe(kernel: Any, **arguments: Any) -> Any:
    return kernel.value(f"await tools.local.probe({arguments!r})")


def failure(kernel: Any, code: str) -> dict[str, Any]:
    out = kernel.execute(code, allow_error=True)
    assert out.error is not None, out.stdout
    return dict(out.error)


@pytest.mark.parametrize(
    ("source_file", "expected"),
    [
        ("echo.js", {"arguments": {"x": 1}, "runtime": "node"}),
        ("echo.rb", {"arguments": {"x": 1}, "runtime": "ruby"}),
    ],
)
def test_each_language_answers(kernel: Any, source_file: str, expected: Any) -> None:
    name = "echo_" + source_file.split(".")[1]
    create(kernel, name, source_file)
    assert kernel.value(f"await tools.local.{name}({{'x': 1}})") == expected


def test_python_and_bash_answer(kernel: Any) -> None:
    assert probe(kernel, mode="echo", x=1) == {"mode": "echo", "x": 1}
    create(kernel, "echo_sh", "echo.sh")
    assert kernel.value("await tools.local.echo_sh({'x': 1})")["runtime"] == "bash"


def test_a_skillz_protocol_script_runs_unchanged(kernel: Any) -> None:
    create(
        kernel,
        "word_count",
        "skillz_word_count.py",
        input_schema={"type": "object", "properties": {"text": {"type": "string"}}},
    )
    result = kernel.value("await tools.local.word_count(text='one two three')")
    assert result == {"count": 3, "tool": "local.word_count"}


def test_tools_call_reaches_an_mcp_tool(kernel: Any) -> None:
    result = probe(kernel, mode="call", tool="echo.add", arguments={"a": 2, "b": 3})
    assert result["isError"] is False
    assert result["structuredContent"] == {"result": 5}


def test_tools_calling_themselves_stop_at_the_depth_limit(kernel: Any) -> None:
    args = {"mode": "call", "tool": "local.probe", "arguments": {"mode": "echo"}}
    for _ in range(10):
        args = {"mode": "call", "tool": "local.probe", "arguments": args}
    error = failure(kernel, f"await tools.local.probe({args!r})")
    assert "depth limit (8)" in error["evalue"]


def test_memory_round_trips_with_a_ttl_in_the_tools_namespace(kernel: Any) -> None:
    assert probe(kernel, mode="memory_roundtrip", n=7)["value"] == {"n": 7}
    assert probe(kernel, mode="memory_read")["found"] is True
    assert kernel.value("memory.for_tool('local.probe').get('seen')") == {"n": 7}
    assert kernel.value("memory.get('seen')") is None


def test_log_progress_and_stream_reach_the_cell(kernel: Any) -> None:
    out = kernel.execute("await tools.local.probe({'mode': 'chatty'})")
    assert "streamed text" in out.stdout
    shown = [d["data"]["text/plain"] for d in out.displays + out.updates]
    assert any("2/2" in text for text in shown)


def test_elicitation_becomes_input_prompts_in_a_notebook(kernel: Any) -> None:
    out = kernel.execute("print(await tools.local.probe({'mode': 'elicit'}))", answers=["teal"])
    assert kernel.prompts == ["Colour: "]
    assert "{'action': 'accept', 'content': {'color': 'teal'}}" in out.stdout


def test_sampling_in_a_notebook_is_a_clear_error(kernel: Any) -> None:
    error = failure(kernel, "await tools.local.probe({'mode': 'sample', 'prompt': 'hi'})")
    assert "a notebook has no model to ask" in error["evalue"]


def test_a_persistent_worker_stays_warm_and_restarts_after_a_crash(kernel: Any) -> None:
    create(kernel, "counter", "counter.py", persistent=True)
    first = kernel.value("await tools.local.counter({})")
    second = kernel.value("await tools.local.counter({})")
    assert second == {"count": first["count"] + 1, "pid": first["pid"]}
    error = failure(kernel, "await tools.local.counter({'crash': True})")
    assert "without answering" in error["evalue"]
    assert kernel.value("await tools.local.counter({})")["count"] == 1


@pytest.mark.parametrize("path", ["/root", "/etc/shadow"])
def test_host_secrets_on_disk_are_unreadable(kernel: Any, path: str) -> None:
    result = probe(kernel, mode="read", path=path)
    assert result["ok"] is False


def test_writing_outside_tmp_fails(kernel: Any, tmp_path: Path) -> None:
    target = tmp_path / "escaped.txt"
    result = probe(kernel, mode="write", path=str(target))
    assert result["ok"] is False
    assert not target.exists()
    assert probe(kernel, mode="write", path="/tmp/inside.txt")["ok"] is True


def serve_once() -> tuple[int, threading.Thread, socket.socket]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(10)

    def answer() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.sendall(b"hello from the host")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    return listener.getsockname()[1], thread, listener


def test_the_network_is_off_unless_the_policy_opens_it(kernel: Any) -> None:
    port, thread, listener = serve_once()
    try:
        assert probe(kernel, mode="connect", port=port)["ok"] is False
        source = (SOURCES / "probe.py").read_text(encoding="utf-8")
        kernel.execute(
            f"create_tool('probe_net', kind='script', language='python', source={source!r}, "
            f"input_schema={ANY_ARGS!r}, policy={{'network': True}})"
        )
        result = kernel.value(f"await tools.local.probe_net({{'mode': 'connect', 'port': {port}}})")
        assert result == {"ok": True, "value": "hello from the host"}
    finally:
        listener.close()
        thread.join(10)


@pytest.fixture
def web_server() -> Iterator[int]:
    """An HTTP server on the host's 127.0.0.1 that answers `hello <path>`."""
    with local_web_server(lambda request: f"hello {request.path}".encode()) as port:
        yield port


def test_a_policy_may_open_the_network_to_listed_domains_only(kernel: Any, web_server: int) -> None:
    create(kernel, "probe_domains", "probe.py", policy={"network": ["LocalHost"]})
    assert kernel.value("_v.manifest['policy']['network']") == ["localhost"]  # normalized
    by_name, by_address = f"http://localhost:{web_server}/a", f"http://127.0.0.1:{web_server}/a"

    def fetch(tool: str, url: str) -> Any:
        return kernel.value(f"await tools.local.{tool}({{'mode': 'fetch', 'url': {url!r}}})")

    assert fetch("probe_domains", by_name) == {"ok": True, "value": [200, "hello /a"]}
    refused = fetch("probe_domains", by_address)["value"]
    assert refused[0] == 403
    assert "not in this process's network allowlist (localhost)" in refused[1]
    assert fetch("probe", by_name)["ok"] is False  # no policy: no proxy, no network


def test_a_fork_bomb_is_contained(kernel: Any) -> None:
    result = kernel.value("await tools.local.probe({'mode': 'fork'})")
    assert result.startswith("fork failed after")
    assert kernel.value("1 + 1") == 2


def test_a_memory_bomb_is_stopped(kernel: Any) -> None:
    result = probe(kernel, mode="memory")
    assert result["ok"] is False
    assert "MemoryError" in result["error"]


def create_limited_probe(kernel: Any, name: str, limits: dict[str, int]) -> None:
    """The probe again, as tool `local.<name>` with these limits."""
    source = (SOURCES / "probe.py").read_text(encoding="utf-8")
    kernel.execute(
        f"create_tool({name!r}, kind='script', language='python', source={source!r}, "
        f"input_schema={ANY_ARGS!r}, limits={limits!r})"
    )


def test_a_cpu_spin_is_stopped_by_the_time_limit(kernel: Any) -> None:
    create_limited_probe(kernel, "spinner", {"timeout_s": 2})
    error = failure(kernel, "await tools.local.spinner({'mode': 'spin'})")
    assert error["ename"] == "SandboxTimeout"
    assert kernel.value("2 + 2") == 4


def test_host_variables_do_not_leak_and_only_declared_secrets_arrive(kernel: Any) -> None:
    env = probe(kernel, mode="env")
    assert "TOOLKERNEL_TEST_LEAK" not in env
    assert "TOOLKERNEL_SECRET_API_TOKEN" not in env
    assert env["API_TOKEN"] == "[redacted]"  # noqa: S105
    assert set(env) <= {"PATH", "LANG", "HOME", "TMPDIR", "API_TOKEN", "PWD", "container"}


def test_a_secret_in_the_output_is_redacted(kernel: Any) -> None:
    assert probe(kernel, mode="secret") == "the token is [redacted]"
    assert SECRET not in kernel.execute("print(tool_versions('local.probe'))").stdout


def test_garbage_lines_are_skipped_and_the_answer_still_counts(kernel: Any) -> None:
    assert probe(kernel, mode="garbage") == "answered after garbage"


def test_a_script_that_exits_without_answering_says_so(kernel: Any) -> None:
    error = failure(kernel, "await tools.local.probe({'mode': 'silent'})")
    assert "exited with code 3 without answering" in error["evalue"]
    assert "no answer from me" in error["evalue"]


def test_a_malformed_response_line_is_a_clear_error(kernel: Any) -> None:
    error = failure(kernel, "await tools.local.probe({'mode': 'malformed'})")
    assert "without answering" in error["evalue"]


def test_a_json_rpc_error_becomes_tool_error(kernel: Any) -> None:
    error = failure(kernel, "await tools.local.probe({'mode': 'fail', 'message': 'bad input'})")
    assert error["ename"] == "ToolError"
    assert "bad input" in error["evalue"]
    assert "JSON-RPC error -32000" in error["evalue"]


def test_a_cpu_spin_past_its_cpu_limit_says_which_limit_stopped_it(kernel: Any) -> None:
    create_limited_probe(kernel, "cpu_spinner", {"cpu_s": 1, "timeout_s": 30})
    error = failure(kernel, "await tools.local.cpu_spinner({'mode': 'spin'})")
    assert error["ename"] == "SandboxTimeout"
    assert "local.cpu_spinner was stopped: CPU limit of 1 s" in error["evalue"]
    assert "exited with code" not in error["evalue"]


def pieces_of_the_secret(text: str) -> list[str]:
    return [SECRET[i : i + 6] for i in range(len(SECRET) - 5) if SECRET[i : i + 6] in text]


@pytest.mark.parametrize("where", ["memory", "call"])
def test_a_secret_is_never_stored_or_passed_to_another_tool(kernel: Any, where: str) -> None:
    result = probe(kernel, mode="secret_edges", where=where)
    assert result["ok"] is False
    assert "the secret API_TOKEN" in result["error"]
    assert pieces_of_the_secret(str(result)) == []


@pytest.mark.parametrize("where", ["error_data", "unanswered"])
def test_no_part_of_a_secret_survives_a_cut(kernel: Any, where: str) -> None:
    error = failure(
        kernel, f"await tools.local.probe({{'mode': 'secret_edges', 'where': {where!r}}})"
    )
    assert pieces_of_the_secret(error["evalue"]) == []


def test_a_progress_value_that_is_not_a_number_is_ignored(kernel: Any) -> None:
    assert probe(kernel, mode="secret_edges", where="progress") == "still answering"


def test_children_over_the_memory_total_stop_the_tool_with_that_limit(kernel: Any) -> None:
    create_limited_probe(kernel, "memory_hog", {"memory_bytes": 128 * 2**20, "timeout_s": 30})
    error = failure(kernel, "await tools.local.memory_hog({'mode': 'memory_children'})")
    assert error["ename"] == "SandboxLimitExceeded"
    assert "local.memory_hog was stopped: memory limit of 134,217,728 bytes" in error["evalue"]
    assert kernel.value("3 + 3") == 6
