// uses_pin_probe: reports which version of the test-made npm `tk-pin-probe` it requires.
const probe = require("tk-pin-probe");
const readline = require("readline");
readline.createInterface({ input: process.stdin }).once("line", (line) => {
  const request = JSON.parse(line);
  const result = { version: probe.version };
  process.stdout.write(JSON.stringify({ jsonrpc: "2.0", result, id: request.id }) + "\n");
  process.exit(0);
});
