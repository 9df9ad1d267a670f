// uses_is_number: requires an npm package from its own node_modules.
const isNumber = require("is-number");
const readline = require("readline");
readline.createInterface({ input: process.stdin }).once("line", (line) => {
  const request = JSON.parse(line);
  const result = { checked: isNumber(request.params.arguments.value) };
  process.stdout.write(JSON.stringify({ jsonrpc: "2.0", result, id: request.id }) + "\n");
  process.exit(0);
});
