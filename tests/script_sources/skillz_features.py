#!/usr/bin/env python3
"""A script tool as Skillz users write them: one request line in, one response out.

It asks the host with a fixed request id of 1 and reads the one reply line that
follows, names its notifications the way Skillz's own test script does
(`logging/message`, `notifications/progress` with `current`/`total`, `stream` with
`data`), and answers with the id it was given. `test` picks what it exercises.
"""
import json
import sys


def send_request(method, params=None):
    print(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}),
          flush=True)
    return json.loads(sys.stdin.readline()).get("result")


def send_notification(method, params=None):
    print(json.dumps({"jsonrpc": "2.0", "method": method, "params": params or {}}), flush=True)


def main():
    request = json.loads(sys.stdin.readline())
    params = request.get("params", {})
    args = params.get("arguments", {})
    test = args.get("test", "context")
    if test == "notify":
        send_notification("logging/message", {"level": "warning", "message": "skillz says hi"})
        for step in range(1, 4):
            send_notification("notifications/progress",
                              {"current": step, "total": 4, "message": f"step {step}"})
        send_notification("stream", {"data": "streamed by skillz\n", "index": 0})
        result = "notified"
    elif test == "memory":
        stored = send_request("memory/set", {"key": "colour", "value": "teal"})
        fetched = send_request("memory/get", {"key": "colour"})
        result = {"set": stored, "get": fetched}
    elif test == "call":
        result = send_request("tools/call", {"name": args["tool"], "arguments": args["with"]})
    elif test == "sample":
        result = send_request("sampling/createMessage", {
            "messages": [{"role": "user", "content": {"type": "text", "text": "hi"}}],
            "maxTokens": 5,
        })
    else:
        result = params.get("context", {})
    print(json.dumps({"jsonrpc": "2.0", "id": request.get("id"), "result": result}), flush=True)


if __name__ == "__main__":
    main()
