"""`python -P -s -m toolkernel.sandboxed -f CONNECTION_FILE`: the sandboxed kernel's launcher."""

import sys

from toolkernel.sandboxed._launcher import main

if __name__ == "__main__":
    sys.exit(main())
