"""counter: a persistent worker that answers many `execute` requests from one process."""

import json
import os
import sys

count = 0
for line in sys.stdin:
    request = json.loads(line)
    if request.get("method") != "execute":
        continue
    arguments = request["params"]["arguments"]
    if arguments.get("crash"):
        os._exit(1)
    count += 1
    reply = {"jsonrpc": "2.0", "result": {"count": count, "pid": os.getpid()}, "id": request["id"]}
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()
