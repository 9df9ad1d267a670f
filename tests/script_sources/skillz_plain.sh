#!/bin/bash
# A Skillz Bash tool that prints plain text, not a JSON-RPC response: Skillz takes the
# line as the result.
read -r _request
echo "plain words from bash"
