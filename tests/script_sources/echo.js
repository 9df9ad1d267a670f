// echo (node): answers the execute request with its arguments and node's version.
const readline = require("readline");
const lines = readline.createInterface({ input: process.stdin, terminal: false });
lines.once("line", (line) => {
  const request = JSON.parse(line);
  const result = { arguments: request.params.arguments, runtime: "node" };
  process.stdout.write(JSON.stringify({ jsonrpc: "2.0", result, id: request.id }) + "\n");
  process.exit(0);
});
