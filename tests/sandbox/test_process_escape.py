"""Escape attempts under real bubblewrap and firejail: files, network, environment."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from process_support import REAL_BACKENDS

from toolkernel_sandbox.process import ProcessPolicy, run

pytestmark = pytest.mark.parametrize("backend", REAL_BACKENDS)

# Prints "open" or the error class for each attempt, one per line.
PROBE = """
import os, sys
def attempt(action):
    try:
        action()
        print("open")
    except OSError as exc:
        print(type(exc).__name__)
for arg in sys.argv[1:]:
    kind, _, path = arg.partition(":")
    if kind == "read":
        attempt(lambda: open(path).read(1))
    elif kind == "list":
        attempt(lambda: os.listdir(path))
    else:
        attempt(lambda: open(path, "w").write("x"))
"""


def attempts(backend: str, *targets: str, policy: ProcessPolicy | None = None) -> list[str]:
    done = run(["python3", "-c", PROBE, *targets], policy=policy, backend=backend)
    assert done.returncode == 0, done.stderr
    return done.stdout.decode().split()


def test_root_home_and_shadow_cannot_be_read(backend: str) -> None:
    assert Path("/etc/shadow").exists()
    results = attempts(backend, "read:/etc/shadow", "list:/root", "list:/home", "list:/work")
    assert "open" not in results


def test_writing_outside_tmp_is_refused(backend: str) -> None:
    targets = ["write:/usr/x", "write:/etc/x", "write:/x", "write:/var/x"]
    assert "open" not in attempts(backend, *targets)


def test_tmp_is_writable_and_private(backend: str, tmp_path: Path) -> None:
    marker = tmp_path / "host-only"
    marker.write_text("host")
    results = attempts(backend, "write:/tmp/scratch", f"read:{marker}")
    assert results == ["open", "FileNotFoundError"]
    assert not Path("/tmp/scratch").exists()


def test_a_read_only_path_cannot_be_written(backend: str, tmp_path: Path) -> None:
    tmp_path.chmod(0o777)  # even when the host would allow it, the bind is read-only
    policy = ProcessPolicy(read_only=(tmp_path,))
    assert attempts(backend, f"write:{tmp_path}/x", policy=policy) == ["OSError"]
    assert not (tmp_path / "x").exists()


@pytest.fixture
def listener() -> Iterator[tuple[int, threading.Event]]:
    """A TCP listener on 127.0.0.1; the event is set when a connection arrives."""
    accepted = threading.Event()
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(10)

    def serve() -> None:
        try:
            server.accept()[0].close()
            accepted.set()
        except OSError:
            pass  # shut down by the fixture at teardown

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone does not
    server.close()
    thread.join(10)


CONNECT = """
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5).close()
    print("connected")
except OSError as exc:
    print("refused", type(exc).__name__)
"""


def test_the_network_is_closed_by_default(
    backend: str, listener: tuple[int, threading.Event]
) -> None:
    port, accepted = listener
    done = run(["python3", "-c", CONNECT, str(port)], backend=backend)
    assert done.stdout.startswith(b"refused"), done.stdout
    assert not accepted.is_set()


def test_the_network_opens_only_with_network_true(
    backend: str, listener: tuple[int, threading.Event]
) -> None:
    port, accepted = listener
    policy = ProcessPolicy(network=True)
    done = run(["python3", "-c", CONNECT, str(port)], policy=policy, backend=backend)
    assert done.stdout == b"connected\n", done.stderr
    assert accepted.wait(10)


def test_the_host_environment_is_not_inherited(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOOLKERNEL_TEST_LEAK", "secret")
    policy = ProcessPolicy(env={"DECLARED": "visible"})
    script = 'echo "leak=${TOOLKERNEL_TEST_LEAK:-none} declared=$DECLARED"'
    done = run(["bash", "-c", script], policy=policy, backend=backend)
    assert done.stdout == b"leak=none declared=visible\n"


def test_host_processes_are_invisible(backend: str) -> None:
    done = run(["bash", "-c", "ls /proc | grep -c '^[0-9]'"], backend=backend)
    # Only the sandbox's own few processes, never the host's.
    assert int(done.stdout) < 8


def test_a_pyvenv_cfg_in_the_tools_own_files_shows_nothing_more(
    backend: str, tmp_path: Path
) -> None:
    # A tool that ships `pyvenv.cfg` must not steer the host into mounting `home`'s parent.
    secret = tmp_path / "host" / "registry.db"
    secret.parent.mkdir()
    secret.write_text("the registry")
    secret.chmod(0o644)
    tool = tmp_path / "tool"
    tool.mkdir()
    (tool / "pyvenv.cfg").write_text(f"home = {secret.parent}/bin\n")
    for folder in (tmp_path, tool, secret.parent):
        folder.chmod(0o755)
    policy = ProcessPolicy(tool_dir=tool, read_only=(tool,))
    assert attempts(backend, f"read:{secret}", policy=policy) == ["FileNotFoundError"]
