"""uses_pin_probe: reports which version of the test-made `tk-pin-probe` it imports."""
import json
import sys

import tk_pin_probe

request = json.loads(sys.stdin.readline())
result = {"version": tk_pin_probe.VERSION}
print(json.dumps({"jsonrpc": "2.0", "result": result, "id": request["id"]}))
