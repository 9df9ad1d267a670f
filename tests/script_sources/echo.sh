# echo (bash): answers the execute request with a fixed object (bash has no JSON parser).
read -r line
[[ $line =~ \"id\":[[:space:]]*([0-9]+) ]] && id="${BASH_REMATCH[1]}"
printf '{"jsonrpc": "2.0", "result": {"runtime": "bash", "bytes": %d}, "id": %s}\n' "${#line}" "$id"
