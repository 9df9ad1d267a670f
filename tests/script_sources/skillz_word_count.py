#!/usr/bin/env python3
"""A tool written for the Skillz script protocol, run unchanged: it reads one request
line, takes `params.arguments` and `params.context`, prints one response and exits."""
import json
import sys

request = json.loads(sys.stdin.readline())
params = request.get("params", {})
text = params.get("arguments", {}).get("text", "")
context = params.get("context", {})
result = {"count": len(text.split()), "tool": context.get("tool_name")}
print(json.dumps({"jsonrpc": "2.0", "result": result, "id": request.get("id")}))
sys.stdout.flush()
