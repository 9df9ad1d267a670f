"""uses_six: imports a pip requirement from its own venv and reports its version."""
import json
import sys

import six

request = json.loads(sys.stdin.readline())
print(json.dumps({"jsonrpc": "2.0", "result": {"six": six.__version__}, "id": request["id"]}))
