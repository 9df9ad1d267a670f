"""The `script` kind: Python, Node, Ruby, Bash or any interpreter, run in the process sandbox.

The host sends one JSON-RPC `execute` request on stdin; the script may log, report
progress, stream output and call back (`tools/call`, `memory/*`, sampling, elicitation,
resources) before it answers. Dependencies go into a cached per-tool environment (a
venv, `node_modules`); the network is off and only declared secrets are forwarded.
"""

from toolkernel.kinds.script._kind import ScriptKind
from toolkernel.kinds.script._manifest import SCRIPT_KINDS, SCRIPT_LANGUAGES

__all__ = ["SCRIPT_KINDS", "SCRIPT_LANGUAGES", "ScriptKind"]
