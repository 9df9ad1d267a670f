"""probe: a script tool that tries one thing (its `mode`) and reports what happened.

It speaks JSON-RPC 2.0 on stdio: it reads the `execute` request, may send its own
requests and notifications, and answers with one response line.
"""

import json
import os
import socket
import sys
import time

_next_id = 1000


def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def ask(method, params):
    """Send a request to the host and return its result (or raise with its error)."""
    global _next_id
    _next_id += 1
    send({"jsonrpc": "2.0", "method": method, "params": params, "id": _next_id})
    while True:
        reply = json.loads(sys.stdin.readline())
        if reply.get("id") == _next_id:
            if "error" in reply:
                raise RuntimeError(reply["error"]["message"])
            return reply["result"]


def attempt(action):
    try:
        return {"ok": True, "value": action()}
    except Exception as exc:  # the point is to report what the sandbox did
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def read(path):
    with open(path) as file:
        return file.read(100)


def write(path):
    with open(path, "w") as file:
        file.write("escaped")
    return path


def connect(port):
    with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
        return conn.recv(100).decode()


def fetch(url):
    """GET `url` through the proxy the environment names (if any): [status, body]."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return [response.status, response.read().decode()]
    except urllib.error.HTTPError as exc:
        return [exc.code, exc.read().decode()]


def fork_bomb():
    children = 0
    try:
        for _ in range(500):
            if os.fork() == 0:  # each child lingers, so the processes add up
                __import__("time").sleep(30)
                os._exit(0)
            children += 1
    except OSError as exc:
        return f"fork failed after {children} children: {exc}"
    return f"forked {children} children"


def memory_bomb():
    hog = []
    while True:
        hog.append(bytearray(50 * 2**20))


def memory_children():
    """Six children that each hold 80 MiB: within a per-process limit, over the total."""
    for _ in range(6):
        if os.fork() == 0:
            held = b"x" * (80 * 2**20)  # written, so every page counts
            time.sleep(60)  # holding it until the memory total kills this child
            del held
            os._exit(0)
    pid, status = os.waitpid(-1, 0)  # the first child to end: one the total stopped
    return f"child ended by signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else "?"


def spin():
    while True:
        pass


def secret_edges(where):
    """Put the declared secret where a cut would split it, or ask the host to keep it."""
    token = os.environ["API_TOKEN"]
    if where == "memory":
        return attempt(lambda: ask("memory/set", {"key": "k", "value": {"t": token}}))
    if where == "call":
        arguments = {"mode": "echo", "token": token}
        return attempt(lambda: ask("tools/call", {"name": "local.probe", "arguments": arguments}))
    if where == "progress":
        send({"jsonrpc": "2.0", "method": "progress", "params": {"progress": token}})
        return "still answering"
    if where == "error_data":
        return ("__error__", {"code": -32000, "message": "bad", "data": "x" * 490 + token})
    # Unanswered: a stray line and stderr, each cut in the middle of the secret.
    print("y" * 195 + token, flush=True)
    sys.stderr.write(token + "z" * 1495)
    sys.exit(3)


def run(mode, args):
    if mode == "echo":
        return args
    if mode == "read":
        return attempt(lambda: read(args["path"]))
    if mode == "write":
        return attempt(lambda: write(args["path"]))
    if mode == "connect":
        return attempt(lambda: connect(args["port"]))
    if mode == "fetch":
        return attempt(lambda: fetch(args["url"]))
    if mode == "env":
        return dict(os.environ)
    if mode == "fork":
        return fork_bomb()
    if mode == "memory":
        return attempt(memory_bomb)
    if mode == "spin":
        return spin()
    if mode == "memory_children":
        return memory_children()
    if mode == "secret":
        return f"the token is {os.environ.get('API_TOKEN')}"
    if mode == "call":
        return ask("tools/call", {"name": args["tool"], "arguments": args["arguments"]})
    if mode == "memory_roundtrip":
        ask("memory/set", {"key": "seen", "value": {"n": args["n"]}, "ttl": 60})
        return ask("memory/get", {"key": "seen"})
    if mode == "memory_read":
        return ask("memory/get", {"key": "seen"})
    if mode == "chatty":
        send({"jsonrpc": "2.0", "method": "log", "params": {"level": "info", "message": "hello log"}})
        for step in (1, 2):
            send({"jsonrpc": "2.0", "method": "progress", "params": {"progress": step, "total": 2}})
        send({"jsonrpc": "2.0", "method": "stream/chunk", "params": {"chunk": "streamed text\n"}})
        return "done"
    if mode == "elicit":
        schema = {"type": "object", "properties": {"color": {"type": "string", "description": "Colour"}}}
        return ask("elicitation/create", {"message": "Pick one", "requestedSchema": schema})
    if mode == "sample":
        return ask("sampling/createMessage", {
            "messages": [{"role": "user", "content": {"type": "text", "text": args["prompt"]}}],
            "maxTokens": 20,
        })
    if mode == "garbage":
        print("this is not JSON-RPC at all", flush=True)
        return "answered after garbage"
    if mode == "silent":
        print("no answer from me", flush=True)
        sys.exit(3)
    if mode == "malformed":
        sys.stdout.write('{"jsonrpc": "2.0", "result": \n')
        sys.stdout.flush()
        sys.exit(0)
    if mode == "secret_edges":
        return secret_edges(args["where"])
    if mode == "fail":
        raise_error = {"code": -32000, "message": args.get("message", "it failed")}
        return ("__error__", raise_error)
    raise ValueError(f"unknown mode {mode!r}")


request = json.loads(sys.stdin.readline())
arguments = request["params"]["arguments"]
value = run(arguments.get("mode", "echo"), arguments)
if isinstance(value, tuple) and value[0] == "__error__":
    send({"jsonrpc": "2.0", "error": value[1], "id": request["id"]})
else:
    send({"jsonrpc": "2.0", "result": value, "id": request["id"]})
