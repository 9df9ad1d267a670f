#!/bin/bash
# A Bash tool in the Skillz style: it reads the request line, answers with a fixed
# "id": 1, then keeps reading stdin (as a `while read` loop does) until end of file.
read -r request
words=$(printf '%s' "$request" | tr -cs 'A-Za-z' '\n' | grep -c 'execute')
printf '{"jsonrpc": "2.0", "result": {"saw_execute": %s}, "id": 1}\n' "$words"
while read -r _; do :; done
