# echo (ruby): answers the execute request with its arguments.
require "json"
request = JSON.parse($stdin.gets)
result = { "arguments" => request["params"]["arguments"], "runtime" => "ruby" }
$stdout.puts(JSON.generate({ "jsonrpc" => "2.0", "result" => result, "id" => request["id"] }))
$stdout.flush
