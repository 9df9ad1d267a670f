"""hang: an MCP server that starts but never answers `initialize`.

It reads stdin and ignores every message, so a client's handshake waits until its own
timeout. Used to prove that a hanging server never blocks kernel start.

Run: `python tests/servers/hang_server.py [--ignore-eof] [--ignore-sigterm]`.

- By default it exits 0 when stdin closes, so a client that gives up and closes the pipe
  leaves no process behind.
- `--ignore-eof` keeps it alive after stdin closes.
- `--ignore-sigterm` makes it ignore SIGTERM too, so only SIGKILL stops it: for testing
  a host's kill escalation.
"""

import argparse
import signal
import sys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ignore-eof", action="store_true", help="stay alive after stdin closes")
    parser.add_argument("--ignore-sigterm", action="store_true", help="ignore SIGTERM")
    args = parser.parse_args()
    if args.ignore_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("hang server: reading stdin, answering nothing", file=sys.stderr, flush=True)
    for _line in sys.stdin.buffer:
        pass
    if args.ignore_eof:
        while True:
            signal.pause()


if __name__ == "__main__":
    main()
