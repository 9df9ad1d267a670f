"""Network by domain: allowlist patterns, the filtering proxy, and sandboxed runs behind it.

No internet here: every upstream is a server this test starts on the host's 127.0.0.1.
The proxy is spoken to over its Unix socket directly (the forwarder inside a sandbox
only pipes bytes to it), and through real bubblewrap and firejail sandboxes.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from process_support import REAL_BACKENDS, processes_running

import toolkernel_sandbox
from tk_support import local_web_server
from toolkernel_sandbox import SandboxError
from toolkernel_sandbox.process import ProcessPolicy, run, run_foreground, sandbox_env, spawn
from toolkernel_sandbox.process._allowlist import Allowlist, check_allowlist
from toolkernel_sandbox.process._netproxy import MAX_CONNECTIONS, NetProxy

WAIT_S = 10.0


# -- patterns ------------------------------------------------------------------------


def test_patterns_are_normalized_and_kept_once() -> None:
    given = ["API.GitHub.com.", "*.Example.org", "localhost:8080", "10.0.0.7", "[::1]:443"]
    assert check_allowlist([*given, "api.github.com"]) == (
        "api.github.com",
        "*.example.org",
        "localhost:8080",
        "10.0.0.7",
        "[::1]:443",
    )


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("https://api.github.com", "without a scheme"),
        ("api.github.com/repos", "no path"),
        ("user@api.github.com", "no path, user info"),
        ("*", "letters, digits"),
        ("*.com", "two labels or more"),
        ("a.*.example.org", "letters, digits"),
        ("*.10.0.0.1", "covers names, not IP addresses"),
        ("bad_host.org", "letters, digits"),
        ("api.github.com:0", "from 1 to 65535"),
        ("api.github.com:70000", "from 1 to 65535"),
        ("api.github.com:https", "from 1 to 65535"),
        ("::1", "in brackets"),
        ("127.1", "reads as an IP address"),
        ("2130706433", "reads as an IP address"),
        ("", "give a host name"),
        ("api github.com", "give a host name"),
    ],
)
def test_a_malformed_pattern_is_refused_saying_how_to_write_it(pattern: str, why: str) -> None:
    with pytest.raises(ValueError, match=r"e\.g\. 'api\.github\.com'") as raised:
        check_allowlist([pattern])
    assert why in str(raised.value)
    assert repr(pattern) in str(raised.value)


def test_the_policy_takes_a_list_of_patterns_and_not_a_string() -> None:
    policy = ProcessPolicy(network_allow=("API.github.com",))  # type: ignore[arg-type]
    assert policy.network_allow == ("api.github.com",)
    assert policy.network is False
    with pytest.raises(TypeError, match="list of domain patterns"):
        ProcessPolicy(network_allow="api.github.com")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not both"):
        ProcessPolicy(network=True, network_allow=("api.github.com",))


def test_the_proxy_variables_are_set_only_behind_a_proxy_and_win_over_the_policy() -> None:
    assert "HTTP_PROXY" not in sandbox_env(ProcessPolicy())
    env = sandbox_env(ProcessPolicy(network_allow=("x.org",), env={"https_proxy": "http://evil"}))
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        assert env[name] == "http://127.0.0.1:3128"
    assert env["NO_PROXY"] == env["no_proxy"] == ""


@pytest.mark.parametrize(
    ("host", "port", "allowed"),
    [
        ("api.github.com", 443, True),
        ("API.GITHUB.COM.", 443, True),
        ("github.com", 443, False),
        ("api.github.com.evil.com", 443, False),
        ("evilapi.github.com", 443, False),
        ("a.example.org", 443, True),
        ("a.b.example.org", 80, True),
        ("example.org", 443, False),
        ("badexample.org", 443, False),
        ("localhost", 8080, True),
        ("localhost", 8081, False),
        ("localhost.evil.com", 8080, False),
        ("10.0.0.7", 1234, True),
        ("10.0.0.8", 1234, False),
        ("[::1]", 443, True),
        ("::1", 443, True),
        ("[::1]", 444, False),
        ("127.1", 8080, False),
        ("0x7f.1", 8080, False),
        ("2130706433", 8080, False),
        ("localhost\\.evil.com", 8080, False),
        ("[localhost]", 8080, False),
        ("[10.0.0.7]", 1234, False),
    ],
)
def test_a_host_is_allowed_only_when_a_rule_covers_it_and_its_port(
    host: str, port: int, allowed: bool
) -> None:
    rules = Allowlist(
        ["api.github.com", "*.example.org", "localhost:8080", "10.0.0.7", "[::1]:443"]
    )
    refusal, _ = rules.refusal(host, port)
    assert (refusal is None) is allowed, refusal


def test_a_name_matched_only_by_a_wildcard_must_resolve_to_a_public_address() -> None:
    # DNS rebinding: a name under an allowed wildcard that points inside.
    for inside in ("127.0.0.1", "10.1.2.3", "192.168.0.1", "169.254.169.254", "::1", "fe80::1"):
        refusal = Allowlist.address_refusal("x.example.org", inside, exact=False)
        assert refusal is not None
        assert "list the name itself" in refusal
    assert Allowlist.address_refusal("x.example.org", "::ffff:127.0.0.1", exact=False)
    assert Allowlist.address_refusal("x.example.org", "93.184.215.14", exact=False) is None
    assert Allowlist.address_refusal("localhost", "127.0.0.1", exact=True) is None
    _, exact = Allowlist(["*.example.org"]).refusal("x.example.org", 443)
    assert exact is False
    _, exact = Allowlist(["*.example.org", "x.example.org"]).refusal("x.example.org", 443)
    assert exact is True


# -- the proxy, spoken to over its socket ----------------------------------------------


@dataclass
class Upstream:
    """An HTTP server on the host's 127.0.0.1 that records what reached it."""

    port: int
    seen: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    found = Upstream(0)

    def answer(request: http.server.BaseHTTPRequestHandler) -> bytes:
        found.seen.append({"path": request.path, **dict(request.headers.items())})
        if request.path == "/big":
            return bytes(range(256)) * 16384  # 4 MiB: more than any buffer on the way
        return json.dumps({"path": request.path, "host": request.headers["Host"]}).encode()

    with local_web_server(answer) as port:
        found.port = port
        yield found


@pytest.fixture
def echo_port() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that echoes what it gets, one connection at a time."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(WAIT_S)

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(WAIT_S)
                while data := conn.recv(4096):
                    conn.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    listener.shutdown(socket.SHUT_RDWR)  # wakes the accept
    listener.close()
    thread.join(WAIT_S)


@pytest.fixture
def proxy() -> Iterator[NetProxy]:
    started = NetProxy.start(["localhost", "api.github.com"])
    yield started
    started.close()


def ask(proxy: NetProxy, request: bytes) -> tuple[int, bytes]:
    """Send `request` on a new connection; the status and body of the answer."""
    with socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(WAIT_S)
        conn.connect(str(proxy.socket))
        conn.sendall(request)
        answer = b""
        while data := conn.recv(65536):
            answer += data
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def get(url: str, host: str | None = None) -> bytes:
    host_line = f"Host: {host}\r\n" if host else ""
    return f"GET {url} HTTP/1.1\r\n{host_line}Accept: */*\r\n\r\n".encode()


def test_a_listed_host_is_reached_with_the_request_in_origin_form(
    proxy: NetProxy, upstream: Upstream
) -> None:
    url = f"http://localhost:{upstream.port}/a/b?c=1"
    status, body = ask(proxy, get(url, f"localhost:{upstream.port}"))
    assert status == 200
    assert json.loads(body) == {"path": "/a/b?c=1", "host": f"localhost:{upstream.port}"}
    [seen] = upstream.seen
    assert seen["Connection"] == "close"
    assert seen["Accept"] == "*/*"


def test_an_unlisted_address_gets_403_naming_it_and_the_allowlist(
    proxy: NetProxy, upstream: Upstream
) -> None:
    status, body = ask(proxy, get(f"http://127.0.0.1:{upstream.port}/"))
    assert status == 403
    assert f"'127.0.0.1' (port {upstream.port})" in body.decode()
    assert "(localhost, api.github.com)" in body.decode()
    assert upstream.seen == []


@pytest.mark.parametrize(
    ("url", "host", "status"),
    [
        # The URI names a listed host, the Host header another.
        ("http://localhost:{port}/", "evil.example.com", 400),
        ("http://localhost:{port}/", "localhost:1", 400),
        # A listed name as the first label of another domain.
        ("http://localhost.evil.com:{port}/", None, 403),
        # User info: the host is what follows the @, whichever side names localhost.
        ("http://localhost@evil.example.com/", None, 400),
        ("http://evil.example.com@localhost:{port}/", None, 400),
        # Numbers that resolvers read as 127.0.0.1.
        ("http://127.1:{port}/", None, 403),
        ("http://2130706433:{port}/", None, 403),
        ("http://0x7f.1:{port}/", None, 403),
        # Not a plain-HTTP absolute URI.
        ("https://localhost:{port}/", None, 400),
        ("/", "localhost", 400),
        ("http://localhost%2e:{port}/", None, 403),
    ],
)
def test_a_request_that_hides_its_real_host_is_refused(
    proxy: NetProxy, upstream: Upstream, url: str, host: str | None, status: int
) -> None:
    answered, body = ask(proxy, get(url.format(port=upstream.port), host))
    assert (answered, upstream.seen) == (status, []), body
    assert body.startswith(b"toolkernel sandbox proxy: ")


def test_connect_reaches_a_listed_host_and_pipes_both_ways(proxy: NetProxy, echo_port: int) -> None:
    with socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(WAIT_S)
        conn.connect(str(proxy.socket))
        conn.sendall(f"CONNECT localhost:{echo_port} HTTP/1.1\r\n\r\nhello".encode())
        answer = b""
        while not answer.endswith(b"hello"):
            answer += conn.recv(4096)
    assert answer == b"HTTP/1.1 200 Connection Established\r\n\r\nhello"


@pytest.mark.parametrize(
    "target", ["evil.example.com:443", "127.0.0.1:{port}", "localhost.evil.com:443"]
)
def test_connect_to_a_refused_host_is_refused(proxy: NetProxy, echo_port: int, target: str) -> None:
    request = f"CONNECT {target.format(port=echo_port)} HTTP/1.1\r\n\r\n".encode()
    status, body = ask(proxy, request)
    assert status == 403
    assert b"not in this process's network allowlist" in body


def test_connect_without_a_port_is_a_bad_request(proxy: NetProxy) -> None:
    assert ask(proxy, b"CONNECT localhost HTTP/1.1\r\n\r\n")[0] == 400


def test_connections_past_the_cap_are_answered_503(proxy: NetProxy) -> None:
    held = []
    try:
        for _ in range(MAX_CONNECTIONS):  # each waits in its request head
            conn = socket.socket(socket.AF_UNIX)
            conn.settimeout(WAIT_S)
            conn.connect(str(proxy.socket))
            held.append(conn)
        status, body = ask(proxy, b"")
        assert status == 503
        assert f"more than {MAX_CONNECTIONS} connections".encode() in body
    finally:
        for conn in held:
            conn.close()


# Run in a mount namespace whose /etc/hosts says rebind.example.org is 127.0.0.1 (the
# host's own network, so the upstream is reachable): a real lookup, as a rebinding DNS
# server would answer it.
REBIND = """
import json, socket, sys
from toolkernel_sandbox.process._netproxy import NetProxy
port, out = int(sys.argv[1]), {}
for patterns in (["*.example.org"], ["rebind.example.org"]):
    proxy = NetProxy.start(patterns)
    try:
        with socket.socket(socket.AF_UNIX) as conn:
            conn.settimeout(10)
            conn.connect(str(proxy.socket))
            conn.sendall(f"GET http://rebind.example.org:{port}/r HTTP/1.1\\r\\n\\r\\n".encode())
            answer = b""
            while data := conn.recv(65536):
                answer += data
        out[patterns[0]] = answer.decode()
    finally:
        proxy.close()
print(json.dumps(out))
"""


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bwrap is not installed")
def test_a_wildcard_name_that_resolves_to_loopback_is_refused(
    upstream: Upstream, tmp_path: Path
) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 rebind.example.org\n")
    package = Path(toolkernel_sandbox.__file__).parents[1]
    bind = ["bwrap", "--dev-bind", "/", "/", "--ro-bind", str(hosts), "/etc/hosts", "--"]
    done = subprocess.run(
        [*bind, sys.executable, "-c", REBIND, str(upstream.port)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(package)},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["*.example.org"].startswith("HTTP/1.1 403 Forbidden")
    assert "resolves to 127.0.0.1" in out["*.example.org"]
    assert "matched only a wildcard" in out["*.example.org"]
    # Named exactly, it may: the person listed that host on purpose.
    assert " 200 OK\r\n" in out["rebind.example.org"]
    assert [seen["path"] for seen in upstream.seen] == ["/r"]


def test_closing_the_proxy_removes_its_socket_and_folder() -> None:
    proxy = NetProxy.start(["localhost"])
    assert proxy.socket.is_socket()
    assert oct(proxy.folder.stat().st_mode & 0o777) == "0o755"
    proxy.close()
    assert not proxy.folder.exists()


# -- sandboxed runs behind the proxy ---------------------------------------------------

FETCH = """
import json, socket, sys, urllib.request
port = int(sys.argv[1])
out = {}
for name, url in (("name", f"http://localhost:{port}/x"), ("ip", f"http://127.0.0.1:{port}/")):
    try:
        out[name] = [200, urllib.request.urlopen(url, timeout=10).read().decode()]
    except urllib.error.HTTPError as exc:
        out[name] = [exc.code, exc.read().decode()]
big = urllib.request.urlopen(f"http://localhost:{port}/big", timeout=10).read()
out["big"] = big == bytes(range(256)) * 16384
for name, address in (("direct", ("127.0.0.1", port)), ("outside", ("192.0.2.1", 80))):
    try:
        socket.create_connection(address, timeout=2).close()
        out[name] = "connected"
    except OSError as exc:
        out[name] = exc.strerror
with socket.create_connection(("127.0.0.1", 3128), timeout=10) as conn:
    conn.sendall(b"CONNECT evil.example.com:443 HTTP/1.1\\r\\n\\r\\n")
    out["connect"] = conn.recv(100).split(b"\\r\\n")[0].decode()
print(json.dumps(out))
"""


@pytest.mark.parametrize("backend", REAL_BACKENDS)
def test_a_sandboxed_process_reaches_only_its_allowlist_and_only_through_the_proxy(
    backend: str, upstream: Upstream
) -> None:
    policy = ProcessPolicy(network_allow=("localhost",), timeout_s=30)
    done = run(["python3", "-c", FETCH, str(upstream.port)], policy=policy, backend=backend)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["name"] == [200, json.dumps({"path": "/x", "host": f"localhost:{upstream.port}"})]
    assert out["ip"][0] == 403
    assert "'127.0.0.1'" in out["ip"][1]
    assert out["direct"] == "Connection refused"  # its own loopback: nothing listens there
    assert out["outside"] == "Network is unreachable"
    assert out["connect"] == "HTTP/1.1 403 Forbidden"
    assert out["big"] is True
    assert [seen["path"] for seen in upstream.seen] == ["/x", "/big"]
    assert processes_running("tk-netproxy-") == []  # the forwarder ended with the run


@pytest.mark.parametrize("backend", REAL_BACKENDS)
def test_a_worker_keeps_its_proxy_until_it_is_closed(backend: str, upstream: Upstream) -> None:
    ask_twice = (
        "import sys, urllib.request\n"
        "for line in sys.stdin:\n"
        "    print(urllib.request.urlopen(line.strip(), timeout=10).status, flush=True)\n"
    )
    policy = ProcessPolicy(network_allow=(f"localhost:{upstream.port}",))

    def proxy_folders() -> set[Path]:
        return set(Path("/tmp").glob("tk-netproxy-*"))

    before = proxy_folders()

    async def scenario() -> tuple[list[bytes], set[Path]]:
        worker = await spawn(["python3", "-c", ask_twice], policy=policy, backend=backend)
        url = f"http://localhost:{upstream.port}/w\n".encode()
        answers = []
        async with worker:
            for _ in range(2):
                worker.write(url)
                answers.append(await asyncio.wait_for(worker.readline(), WAIT_S))
            folders = proxy_folders() - before
        return answers, folders

    answers, folders = asyncio.run(scenario())
    assert answers == [b"200\n", b"200\n"]
    assert len(folders) == 1
    assert not [folder for folder in folders if folder.exists()]


@pytest.mark.parametrize("backend", REAL_BACKENDS)
def test_a_foreground_program_gets_its_proxy_for_its_whole_life(
    backend: str, upstream: Upstream
) -> None:
    # Exit 0: the listed name answered 200 and the unlisted address 403.
    check = (
        "import sys, urllib.request, urllib.error\n"
        f"ok = urllib.request.urlopen('http://localhost:{upstream.port}/f', timeout=10).status\n"
        "try:\n"
        f"    urllib.request.urlopen('http://127.0.0.1:{upstream.port}/', timeout=10)\n"
        "    refused = 200\n"
        "except urllib.error.HTTPError as exc:\n"
        "    refused = exc.code\n"
        "sys.exit(0 if (ok, refused) == (200, 403) else 1)\n"
    )
    policy = ProcessPolicy(network_allow=("localhost",))
    exited = run_foreground(["python3", "-c", check], policy=policy, backend=backend)
    assert exited.returncode == 0
    assert [seen["path"] for seen in upstream.seen] == ["/f"]


def test_the_rlimits_backend_refuses_an_allowlist_it_could_not_enforce() -> None:
    policy = ProcessPolicy(network_allow=("localhost",))
    with pytest.raises(SandboxError, match="backend 'rlimits' has no network namespace"):
        run(["true"], policy=policy, backend="rlimits")


@pytest.mark.parametrize("backend", REAL_BACKENDS)
def test_a_missing_command_behind_the_proxy_exits_127_saying_so(backend: str) -> None:
    policy = ProcessPolicy(network_allow=("localhost",))
    done = run(["no-such-command-here"], policy=policy, backend=backend)
    assert done.returncode == 127
    assert b"could not run no-such-command-here" in done.stderr
