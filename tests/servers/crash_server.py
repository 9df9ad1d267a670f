"""crash: an MCP server that fails at start.

It prints one error line to stderr and exits with code 1 before reading anything, so a
client's `initialize` sees the connection close. Used to prove that a dead server never
blocks kernel start and that its stderr reaches the user.

Run: `python tests/servers/crash_server.py`.
"""

import sys

MESSAGE = "crash server: failed to start: missing configuration CRASH_SERVER_TOKEN"


def main() -> None:
    print(MESSAGE, file=sys.stderr, flush=True)
    sys.exit(1)


if __name__ == "__main__":
    main()
